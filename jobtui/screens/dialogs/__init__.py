"""The monitor's modal dialogs, one module each; every name is importable from here.

Each job dialog is built from a JobSnapshot taken when the operator pressed the key, never from the live
table row: the table repaints under the dialog, and the answer must apply to the job the operator read.
The dialogs only collect an answer; the caller passes it to `engine.actions`.
"""

from __future__ import annotations

from jobtui.screens.dialogs.audit import AuditScreen
from jobtui.screens.dialogs.base import DialogScreen
from jobtui.screens.dialogs.confirm import ConfirmDialog
from jobtui.screens.dialogs.help import HelpScreen
from jobtui.screens.dialogs.notifications import NotificationsScreen
from jobtui.screens.dialogs.reason import ReasonDialog
from jobtui.screens.dialogs.rerun import RERUN_STEPS, RerunDialog
from jobtui.screens.dialogs.reschedule import RescheduleDialog
from jobtui.screens.dialogs.status_picker import StatusPicker
from jobtui.screens.dialogs.subject import EnvelopeFacts
from jobtui.screens.dialogs.trap import TRAP_ACTIONS, TrapDialog

__all__ = [
    "RERUN_STEPS",
    "TRAP_ACTIONS",
    "AuditScreen",
    "ConfirmDialog",
    "DialogScreen",
    "EnvelopeFacts",
    "HelpScreen",
    "NotificationsScreen",
    "ReasonDialog",
    "RerunDialog",
    "RescheduleDialog",
    "StatusPicker",
    "TrapDialog",
]
