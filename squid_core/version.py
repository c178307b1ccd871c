"""Single source of the software version, recorded in every model file and export."""

__version__ = "0.1.0"
