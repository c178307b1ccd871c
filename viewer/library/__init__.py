"""The model library dialog (Qt) over :class:`squid_core.library.ModelLibrary`.

    from squid_core.library import ModelLibrary
    from viewer.library import ModelLibraryDialog

    dialog = ModelLibraryDialog(ModelLibrary(), parent=main_window)
    dialog.activeModelChanged.connect(main_window.load_model)   # path of the active model
    dialog.exec()
"""

from viewer.library.dialog import ModelLibraryDialog, describe

__all__ = ["ModelLibraryDialog", "describe"]
