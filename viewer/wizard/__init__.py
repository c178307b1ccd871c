"""The training wizard (Qt): fine-tune SQUID on a site's normal studies, validate, save.

    from squid_core.library import ModelLibrary
    from viewer.wizard import TrainingWizard

    wizard = TrainingWizard(ModelLibrary(), parent=main_window)
    wizard.activeModelChanged.connect(main_window.load_model)   # path of the new model
    wizard.open()

Training runs in its own process (``squid_core.training.worker_process``).
"""

from viewer.wizard.wizard import TrainingWizard

__all__ = ["TrainingWizard"]
