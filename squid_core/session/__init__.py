"""The session: open studies, results, the active model and its operating point, and the
analysis it drives, as one Qt-free object that emits events (psygnal). The viewer's
widgets observe it; see docs/architecture.md, "Contract: session".
"""

from squid_core.session.catalog import Catalog, Entry, Rejected
from squid_core.session.model_description import (
    ModelDescription,
    ModelDescriptionError,
    describe_model_file,
)
from squid_core.session.session import RESULT_CACHE, Session

__all__ = ["Catalog", "Entry", "ModelDescription", "ModelDescriptionError", "RESULT_CACHE",
           "Rejected", "Session", "describe_model_file"]
