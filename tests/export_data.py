"""A channel of adversarial posts stored through the real storage functions, for export tests.

Texts, entities, keywords and labels mix quotes, backslashes, control
characters, U+2028, Cyrillic and emoji; entities repeat, are empty or have no
url; some posts are edited, replies, forwards, deleted or topic-less, some
have no document.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tg_parser.domain import (
    Document,
    Entity,
    EntityType,
    ForumTopic,
    Media,
    Message,
    PostAnalysis,
    Reaction,
    Topic,
)
from tg_parser.storage import Session, channels, documents, messages, topics
from tg_parser.storage.tables import MessageRow

_NASTY = [
    "",
    "plain",
    'т"ек\\ст',
    "line\nbreak\ttab\r\x01\x1f\x7f",
    "\u2028\u2029 😀 ключ",
    '", "',
    "\\",
    "#тег",
    "@name",
    "https://x.org/a?b=1&c=%20",
]
_KINDS = [
    EntityType.LINK,
    EntityType.TEXT_LINK,
    EntityType.HASHTAG,
    EntityType.MENTION,
    EntityType.MENTION_NAME,
    EntityType.BOLD,
]


def _entities(rng: random.Random) -> tuple[Entity, ...]:
    out = []
    for _ in range(rng.choice([0, 0, 1, 3, 8])):
        text = rng.choice(_NASTY)
        url = rng.choice([None, "", "https://y.org", "https://x.org", 'h"\\'])
        out.append(Entity(type=rng.choice(_KINDS), offset=0, length=len(text), text=text, url=url))
    return tuple(out)


def fill_channel(session: Session, *, posts: int, seed: int, username: str | None) -> tuple[int, str]:
    """Store a channel of ``posts`` random posts with documents and three topics.

    Args:
        session: An open session (the caller commits).
        posts: How many posts.
        seed: Seed of the random choices.
        username: The channel's username, or ``None`` for the ``t.me/c/`` form.

    Returns:
        The channel's primary key and key.
    """
    rng = random.Random(seed)
    key = username.lower() if username else "c1001"
    pk = channels.upsert_channel(
        session,
        key=key,
        telegram_id=-1001001,
        username=username,
        title='Т"итул',
        chat_type="public_channel",
        source_kind="export",
        source="{}",
    )
    start = datetime(2024, 5, 1, 10, 0, 0, 999_999, tzinfo=UTC)
    posts_ = [
        Message(
            channel_id=1001,
            message_id=i * 7 + 1,
            date=start + timedelta(seconds=rng.randint(0, 10**8)),
            edited=rng.choice([None, start + timedelta(days=3, microseconds=5)]),
            text=" ".join(rng.choice(_NASTY) for _ in range(rng.randint(1, 4))),
            entities=_entities(rng),
            author=rng.choice([None, 'Автор "A"', ""]),
            reply_to=rng.choice([None, 3, 2**40]),
            forwarded_from=rng.choice([None, "Канал\\"]),
            media_type=rng.choice([None, "photo"]),
        )
        for i in range(posts)
    ]
    depth = random.Random(seed + 1)  # its own stream: the draws above stay what they were
    posts_ = [_with_depth(m, depth) for m in posts_]
    messages.upsert_messages(session, channel_pk=pk, messages=posts_)
    pk_by_mid = _all_pks(session, pk)
    with_document = [m for m in posts_ if rng.random() > 0.1]
    for msg in with_document:
        analysis = PostAnalysis(
            language=rng.choice(["ru", "en", "und"]),
            summary=rng.choice(_NASTY),
            keywords=[rng.choice(_NASTY) for _ in range(rng.randint(0, 5))],
        )
        doc = Document(
            channel_key=key,
            message_id=msg.message_id,
            content_hash=msg.content_hash(),
            processor=rng.choice(["offline", "openai"]),
            model='m"1',
            prompt_version="1",
            clean_text=msg.text,
            analysis=analysis,
        )
        documents.upsert_document(session, message_pk=pk_by_mid[msg.message_id], channel_pk=pk, document=doc)
    members = [m.message_id for m in with_document if rng.random() > 0.2]
    groups = [members[i::3] for i in range(3)]
    stored_topics = [
        Topic(
            topic_id=f"{key}:topic-{n}", label=rng.choice(_NASTY) or "x", keywords=["a", '"b'], member_ids=g
        )
        for n, g in zip((10, 2, 1), groups, strict=True)
    ]
    topics.replace_topics(session, channel_pk=pk, topics=stored_topics, pk_by_message_id=pk_by_mid)
    messages.mark_deleted(
        session, channel_pk=pk, message_ids=[m.message_id for m in posts_ if rng.random() < 0.05]
    )
    return pk, key


def _with_depth(msg: Message, rng: random.Random) -> Message:
    """Give a post issue-13 metadata: media (nasty names, floats), counts, reactions, a forum topic."""
    media = None
    if msg.media_type is not None:
        media = Media(
            type=msg.media_type,
            file_name=rng.choice([None, 'ф"а\\йл\n.pdf', "a.jpg"]),
            mime_type=rng.choice([None, "image/jpeg"]),
            size_bytes=rng.choice([None, 0, 2**40]),
            duration_s=rng.choice([None, 7, 12.5, 0.125]),
            width=rng.choice([None, 1280]),
            height=rng.choice([None, 720]),
            path=rng.choice([None, "photos/ф 1@x.jpg", '"\\\u2028']),
        )
    reactions = tuple(
        Reaction(emoji=e, count=rng.randint(0, 10**6))
        for e in rng.sample(
            ["👍", "❤", "custom:5368324170671202286", "paid", '"\\', "ключ"], rng.randint(0, 4)
        )
    )
    topic = rng.choice([None, None, ForumTopic(id=3, title='Q&A "т"\\'), ForumTopic(id=9, title=None)])
    return msg.model_copy(
        update={
            "media": media,
            "views": rng.choice([None, 0, 123456]),
            "forwards": rng.choice([None, 5]),
            "reactions": reactions,
            "forum_topic": topic,
        }
    )


def _all_pks(session: Session, channel_pk: int) -> dict[int, int]:
    """``{message_id: message_pk}`` of every stored post of the channel, with or without a document."""
    rows = session.execute(
        select(MessageRow.message_id, MessageRow.id).where(MessageRow.channel_id == channel_pk)
    )
    return {int(mid): int(pk) for mid, pk in rows}
