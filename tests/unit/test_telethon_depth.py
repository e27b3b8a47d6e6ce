"""Issue 13 on the live source: reactions refreshed in the edit window, counts, media metadata, forum topics.

Real Telethon TL objects behind the fake client of ``test_telethon_source``;
``messages.getForumTopics`` is answered by a subclass that pages like Telegram.
"""

# ruff: noqa: D102, D103

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from telethon import errors
from telethon.tl import types
from telethon.tl.functions.messages import GetForumTopicsRequest

from tests.unit.test_telethon_source import CHAN_ID, T0, FakeClient, channel, collect, make_source, post, run
from tg_parser.domain import ForumTopic, Media, Reaction
from tg_parser.errors import PermanentError

FORUM_ID = 2482670091


def tl_topic(tid: int, title: str) -> types.ForumTopic:
    return types.ForumTopic(
        id=tid,
        date=T0 + timedelta(minutes=tid),
        peer=types.PeerChannel(FORUM_ID),
        title=title,
        icon_color=0,
        top_message=tid,
        read_inbox_max_id=0,
        read_outbox_max_id=0,
        unread_count=0,
        unread_mentions_count=0,
        unread_reactions_count=0,
        unread_poll_votes_count=0,
        from_id=types.PeerUser(1),
        notify_settings=types.PeerNotifySettings(),
    )


class ForumClient(FakeClient):
    """Serves ``messages.getForumTopics`` from ``topics``: newest first, ``limit`` at a time."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.topics: list[types.ForumTopic] = []

    async def __call__(self, request: Any) -> Any:
        assert isinstance(request, GetForumTopicsRequest)
        self._request("forum_topics", request.offset_topic)
        ordered = sorted(self.topics, key=lambda t: -t.id)
        if request.offset_topic:
            ordered = [t for t in ordered if t.id < request.offset_topic]
        page = ordered[: request.limit]
        return types.messages.ForumTopics(
            count=len(self.topics), topics=page, messages=[], chats=[], users=[], pts=1
        )


def in_topic(mid: int, text: str, *, top: int, answers: int | None = None, **kw: Any) -> types.Message:
    header = types.MessageReplyHeader(
        forum_topic=True,
        reply_to_msg_id=answers or top,
        reply_to_top_id=top if answers else None,
    )
    return post(mid, text, cid=FORUM_ID, post=False, reply_to=header, **kw)


def forum_client() -> ForumClient:
    client = ForumClient()
    forum = channel(FORUM_ID, "ensia", "ENSIA", broadcast=False, megagroup=True, forum=True)
    client.add_channel(
        forum,
        [
            post(2, "in General", cid=FORUM_ID, post=False),
            in_topic(4, "first question", top=3),
            in_topic(5, "an answer", top=3, answers=4),
            in_topic(8, "a paper", top=7),
        ],
    )
    client.topics = [tl_topic(1, "General"), tl_topic(3, "Q&A"), tl_topic(7, "Research")]
    return client


def test_forum_messages_carry_their_topic_and_its_title() -> None:
    """reply_to.forum_topic with reply_to_top_id or reply_to_msg_id is the topic; titles: getForumTopics."""
    client = forum_client()
    source, _ = make_source(client)
    pages = run(collect(source, "@ensia", cursor=None))
    topics = {m.message_id: m.forum_topic for p in pages for m in p.messages}
    assert topics == {
        2: None,  # the General topic: no reply header, like a Desktop export
        4: ForumTopic(id=3, title="Q&A"),
        5: ForumTopic(id=3, title="Q&A"),  # an answer inside the topic
        8: ForumTopic(id=7, title="Research"),
    }
    assert sum(1 for what, _ in client.calls if what == "forum_topics") == 1  # once per fetch, not per page


def test_topic_rename_is_seen_on_the_next_sync() -> None:
    """A renamed topic's title changes for the posts the next fetch re-reads in its edit window."""
    client = forum_client()
    source, _ = make_source(client, edit_window=10)
    run(collect(source, "@ensia", cursor=None))
    client.topics[2] = tl_topic(7, "Scientific Research")
    pages = run(collect(source, "@ensia", cursor=8, known_ids=[2, 4, 5, 8]))
    assert next(m for m in pages[0].messages if m.message_id == 8).forum_topic == ForumTopic(
        id=7, title="Scientific Research"
    )


def test_forum_topic_list_is_paged_and_floodwait_is_slept() -> None:
    """Over 100 topics take a second getForumTopics page (after the last); a short FloodWait is slept."""
    client = ForumClient()
    forum = channel(FORUM_ID, "bigforum", "Big", broadcast=False, megagroup=True, forum=True)
    client.topics = [tl_topic(t, f"topic {t}") for t in range(10, 160)]
    client.add_channel(
        forum, [in_topic(200, "in the oldest", top=10), in_topic(201, "in the newest", top=159)]
    )
    source, slept = make_source(client)
    client.flood_plan[3] = 3  # 1 resolves the channel, 2 reads the history, 3 is the first getForumTopics
    pages = run(collect(source, "@bigforum", cursor=None))
    topics = {m.message_id: m.forum_topic for p in pages for m in p.messages}
    assert topics == {200: ForumTopic(id=10, title="topic 10"), 201: ForumTopic(id=159, title="topic 159")}
    offsets = [arg for what, arg in client.calls if what == "forum_topics"]
    assert offsets == [0, 0, 60]  # FloodWait, retried, then from the last topic of page one
    assert slept == [3]


def test_reactions_views_and_forwards_are_refreshed_in_the_edit_window() -> None:
    """A post seen again inside its edit window comes back with its new reaction, view and forward counts."""
    client = FakeClient()
    reactions = types.MessageReactions(
        results=[types.ReactionCount(reaction=types.ReactionEmoji(emoticon="👍"), count=1)]
    )
    client.add_channel(channel(), [post(1, "hello", views=10, forwards=0, reactions=reactions)])
    source, _ = make_source(client, edit_window=5)
    first = run(collect(source, cursor=None))[0].messages[0]
    assert (first.reactions, first.views, first.forwards) == ((Reaction(emoji="👍", count=1),), 10, 0)
    more = types.MessageReactions(
        results=[
            types.ReactionCount(reaction=types.ReactionEmoji(emoticon="👍"), count=7),
            types.ReactionCount(reaction=types.ReactionCustomEmoji(document_id=5368324170671202286), count=2),
            types.ReactionCount(reaction=types.ReactionPaid(), count=30),
        ]
    )
    client.history[CHAN_ID][1] = post(1, "hello", views=950, forwards=12, reactions=more)
    window = run(collect(source, cursor=1, known_ids=[1]))[0]
    assert window.window
    again = window.messages[0]
    assert again.reactions == (
        Reaction(emoji="👍", count=7),
        Reaction(emoji="custom:5368324170671202286", count=2),
        Reaction(emoji="paid", count=30),
    )
    assert (again.views, again.forwards) == (950, 12)
    assert again.content_hash() == first.content_hash()  # counts are no content: no reprocessing


def test_media_metadata_of_photos_videos_and_files() -> None:
    """The largest photo size, a video's duration and size, a file's name and MIME type."""
    photo = types.MessageMediaPhoto(
        photo=types.Photo(
            id=1,
            access_hash=2,
            file_reference=b"",
            date=T0,
            sizes=[
                types.PhotoStrippedSize(type="i", bytes=b"\x01"),
                types.PhotoSize(type="m", w=320, h=180, size=9000),
                types.PhotoSizeProgressive(type="y", w=1280, h=720, sizes=[5000, 40000, 104857]),
            ],
            dc_id=2,
        )
    )

    def doc(*attributes: Any, mime: str, size: int) -> types.MessageMediaDocument:
        document = types.Document(
            id=5, access_hash=6, file_reference=b"", date=T0, mime_type=mime, size=size, dc_id=2,
            attributes=list(attributes),
        )  # fmt: skip
        return types.MessageMediaDocument(document=document)

    video = doc(
        types.DocumentAttributeVideo(12.5, 1920, 1080),
        types.DocumentAttributeFilename("clip.mp4"),
        mime="video/mp4",
        size=7_340_032,
    )
    pdf = doc(types.DocumentAttributeFilename("paper.pdf"), mime="application/pdf", size=223_671)
    client = FakeClient()
    client.add_channel(
        channel(),
        [post(1, "p", media=photo), post(2, "v", media=video), post(3, "d", media=pdf), post(4, "text only")],
    )
    source, _ = make_source(client)
    media = {m.message_id: m.media for p in run(collect(source, cursor=None)) for m in p.messages}
    assert media == {
        1: Media(type="photo", size_bytes=104857, width=1280, height=720),
        2: Media(
            type="video_file",
            file_name="clip.mp4",
            mime_type="video/mp4",
            size_bytes=7_340_032,
            duration_s=12.5,
            width=1920,
            height=1080,
        ),
        3: Media(type="document", file_name="paper.pdf", mime_type="application/pdf", size_bytes=223_671),
        4: None,
    }


class RefusingForumClient(ForumClient):
    """Refuses getForumTopics as Telegram does for a channel this account may not read."""

    async def __call__(self, request: Any) -> Any:
        self._request("forum_topics", request.offset_topic)
        raise errors.ChannelPrivateError(request=request)


def test_forum_topics_unreadable_is_a_clear_error() -> None:
    """A getForumTopics that Telegram refuses ends the fetch with our permanent error naming the channel."""
    client = RefusingForumClient()
    forum = channel(FORUM_ID, "ensia", "ENSIA", broadcast=False, megagroup=True, forum=True)
    client.add_channel(forum, [in_topic(4, "first question", top=3)])
    source, _ = make_source(client)
    with pytest.raises(PermanentError, match="ensia"):
        run(collect(source, "@ensia", cursor=None))
