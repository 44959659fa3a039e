"""Built-in admission: at most ``max_presenters`` on screen; when full, newest wins or the newcomer queues."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._version import __version__
from ..hookspecs import hookimpl
from ..model import Admission, PluginManifest
from ..session.manager import default_admission

if TYPE_CHECKING:
    from ..app import Receiver
    from ..session.manager import Session

manifest = PluginManifest(name="admission", display_name="Admission policy", version=__version__,
                          provides=("max presenters", "newest-wins or queue"))


@hookimpl(trylast=True)
def receiver_session_admit(receiver: Receiver, session: Session, active: Sequence[Session]) -> Admission:
    """Apply ``[session] max_presenters`` and ``admission``."""
    cfg = receiver.config.session
    return default_admission(cfg.max_presenters, cfg.admission, session, list(active))
