"""The SQLAlchemy 2.0 typed models: what Relais stores, one module per area.

The raw bytes of each message, as received, are the record; every other column of
`messages` (subject, author, text, parent, topic) is derived and can be rebuilt.
"""

from storage.models.base import (  # noqa: F401
    utcnow,
    UTCDateTime,
    NAMING,
    Base,
    _enum,
)
from storage.models.people import (  # noqa: F401
    OrganisationKind,
    Role,
    DeliveryMode,
    FollowLevel,
    Organisation,
    Person,
    Address,
    Subscription,
    TopicFollow,
    CategoryFollow,
)
from storage.models.archive import (  # noqa: F401
    TopicStatus,
    Resolution,
    Category,
    Topic,
    Message,
    MessageReference,
    Attachment,
)
from storage.models.mailflow import (  # noqa: F401
    HeldStatus,
    OutboundStatus,
    HeldMessage,
    ControlMessage,
    OutboundMessage,
    Fanout,
    Delivery,
    RelayPause,
    MemberRequest,
)
from storage.models.web import (  # noqa: F401
    SignInLink,
    RateLimitHit,
    WebSession,
)
from storage.models.posting import DraftAttachment  # noqa: F401
from storage.models.moderation import (  # noqa: F401
    CommandStatus,
    CommandMail,
    SignedCommand,
    ModerationLogEntry,
    AllowedSender,
    SheetKind,
    TopicSheet,
)

__all__ = [
    "utcnow",
    "UTCDateTime",
    "NAMING",
    "Base",
    "_enum",
    "OrganisationKind",
    "Role",
    "DeliveryMode",
    "FollowLevel",
    "Organisation",
    "Person",
    "Address",
    "Subscription",
    "TopicFollow",
    "CategoryFollow",
    "TopicStatus",
    "Resolution",
    "Category",
    "Topic",
    "Message",
    "MessageReference",
    "Attachment",
    "HeldStatus",
    "OutboundStatus",
    "HeldMessage",
    "ControlMessage",
    "OutboundMessage",
    "Fanout",
    "Delivery",
    "RelayPause",
    "MemberRequest",
    "SignInLink",
    "RateLimitHit",
    "WebSession",
    "DraftAttachment",
    "CommandStatus",
    "CommandMail",
    "SignedCommand",
    "ModerationLogEntry",
    "AllowedSender",
    "SheetKind",
    "TopicSheet",
]
