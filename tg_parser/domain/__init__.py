"""Pure domain models and rules (no I/O, no frameworks)."""

from tg_parser.domain.models import (
    ChatInfo,
    Document,
    Entity,
    EntityType,
    ForumTopic,
    Media,
    Message,
    NamedEntity,
    PostAnalysis,
    Reaction,
    Topic,
)
from tg_parser.domain.permalinks import (
    bare_channel_id,
    channel_key,
    normalise_username,
    permalink,
    permalink_base,
)

__all__ = [
    "ChatInfo",
    "Document",
    "Entity",
    "EntityType",
    "ForumTopic",
    "Media",
    "Message",
    "NamedEntity",
    "PostAnalysis",
    "Reaction",
    "Topic",
    "bare_channel_id",
    "channel_key",
    "normalise_username",
    "permalink",
    "permalink_base",
]
