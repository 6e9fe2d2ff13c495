"""Modal dialogs of the action path: the confirmation, the refusal display, and the parameter forms."""

from almtui.ui.dialogs.confirm import ConfirmDialog, Decision, FindingLine, RefusalDialog
from almtui.ui.dialogs.forms import FormScreen, HPAPolicyForm, ImageForm, RevisionPicker, ScaleForm

__all__ = ["ConfirmDialog", "Decision", "FindingLine", "FormScreen", "HPAPolicyForm", "ImageForm", "RefusalDialog",
           "RevisionPicker", "ScaleForm"]
