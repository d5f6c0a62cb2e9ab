"""Writing on the web: the files attached to a form that was previewed or refused, kept
until the post is sent (a browser cannot give a file input back)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, utcnow


class DraftAttachment(Base):
    """A file of a form not sent yet, named by the form's Message-ID and its author; removed
    when the post is sent, or after a day."""

    __tablename__ = "draft_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(995), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(255))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
