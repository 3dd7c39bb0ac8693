"""How every one of our processes logs: one line a record, and never a customer's phone number
or e-mail address (`common.private`; Rasa's process does the same in rasa_plugins.runtime)."""

from __future__ import annotations

import logging

from common.private import install_private_logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: int = logging.INFO) -> None:
    install_private_logging()
    logging.basicConfig(level=level, format=FORMAT)
