"""The admin API's request and response bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from bot.db.models import Impact, Incident, IncidentStatus, ServiceStatus
from bot.incidents.writes import MAX_TITLE, MAX_UPDATE
from common.text import MAX_CHAT_MESSAGE


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IncidentIn(Strict):
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    message: str = Field(min_length=1, max_length=MAX_UPDATE, description="The first public update")
    status: IncidentStatus = IncidentStatus.INVESTIGATING
    impact: Impact = Impact.MAJOR
    started_at: AwareDatetime | None = None
    cause: str | None = Field(default=None, max_length=MAX_UPDATE, description="The stated cause, if announced")
    eta: AwareDatetime | None = None
    next_update_at: AwareDatetime | None = None
    services: dict[str, ServiceStatus] = Field(default_factory=dict, description="service key -> status")


class IncidentPatch(Strict):
    title: str | None = Field(default=None, min_length=1, max_length=MAX_TITLE)
    impact: Impact | None = None
    cause: str | None = Field(default=None, max_length=MAX_UPDATE)


class ImpactIn(Strict):
    status: ServiceStatus


class UpdateIn(Strict):
    message: str = Field(min_length=1, max_length=MAX_UPDATE)
    status: IncidentStatus | None = None
    eta: AwareDatetime | None = None
    next_update_at: AwareDatetime | None = None
    services: list[str] = Field(default_factory=list, description="services this update is about")
    service_states: dict[str, ServiceStatus] = Field(
        default_factory=dict,
        description="service key -> its state from this update on, in the same call (as Statuspage's components)",
    )
    clear_eta: bool = False


class ResolveIn(Strict):
    message: str = Field(min_length=1, max_length=MAX_UPDATE)
    resolved_at: AwareDatetime | None = None


class CloseEscalationsIn(Strict):
    message: str = Field(
        min_length=1, max_length=MAX_CHAT_MESSAGE, description="Sent to every waiting customer with their reference"
    )
    service: str | None = Field(
        default=None, max_length=32, description="Only escalations about this service (one that is back)"
    )
    include_touched: bool = Field(
        default=False, description="Also close escalations a person has worked on (assigned, noted, replied)"
    )


class CloseEscalationsOut(BaseModel):
    closed: int = Field(description="Escalations this request closed")
    queued: int = Field(description="Messages this request queued, one per closed escalation")
    left_open: int = Field(description="Linked escalations left open because a person has worked on them")


class UpdateOut(BaseModel):
    posted_at: datetime
    status: IncidentStatus
    message: str
    services: list[str]


class IncidentOut(BaseModel):
    id: int
    title: str
    status: IncidentStatus
    impact: Impact
    started_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    eta: datetime | None
    next_update_at: datetime | None
    message: str
    cause: str | None
    source: str
    services: dict[str, ServiceStatus]
    updates: list[UpdateOut]

    @classmethod
    def of(cls, incident: Incident) -> IncidentOut:
        return cls(
            id=incident.id,
            title=incident.title,
            status=incident.status,
            impact=incident.impact,
            started_at=incident.started_at,
            updated_at=incident.updated_at,
            resolved_at=incident.resolved_at,
            eta=incident.eta,
            next_update_at=incident.next_update_at,
            message=incident.public_message,
            cause=incident.cause,
            source=incident.source,
            services={i.service_key: i.status for i in incident.impacts},
            updates=[
                UpdateOut(posted_at=u.posted_at, status=u.status, message=u.message, services=u.service_keys)
                for u in incident.updates
            ],
        )
