"""The project's exception hierarchy.

Actions catch only these and answer with a fallback response; anything else is a
bug and should surface in the logs.
"""


class OutageAssistantError(Exception):
    """Base class for every error this project raises on purpose."""


class ConfigurationError(OutageAssistantError):
    """The environment or a configuration file is unusable."""


class IncidentSourceError(OutageAssistantError):
    """The incident store could not be read or written."""


class KnowledgeError(OutageAssistantError):
    """The operator-edited knowledge file is missing or malformed."""


class ValidationError(OutageAssistantError):
    """A requested change to the incident state breaks a rule."""


class NotFoundError(ValidationError):
    """The change names an incident (or other record) that does not exist."""


class StatusPageError(IncidentSourceError):
    """The status page could not be fetched, or what it sent is not Statuspage JSON."""


class ConversationStoreError(OutageAssistantError):
    """Rasa's tracker store (the conversations) could not be read."""


class LimitError(ValidationError):
    """Too many of one kind of request from one address or customer in a while."""
