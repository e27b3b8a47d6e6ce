"""Issue 13: discussion comments read per post, incrementally, each linked to its post.

Real Telethon TL objects behind the fake client of ``test_telethon_source``
(threads served like ``messages.getReplies``, ``min_id`` honoured, FloodWait
raisable at any request).
"""

# ruff: noqa: D103

from __future__ import annotations

from typing import Any

from telethon.tl import types

from tests.unit.test_telethon_source import (
    CHAN_ID,
    DISCUSSION_ID,
    FakeClient,
    channel,
    collect,
    make_source,
    photo,
    post,
    run,
)

USER = types.User(id=501, first_name="Ann", last_name="Lee")


def comment(mid: int, text: str, *, head: int = 70) -> types.Message:
    return post(
        mid,
        text,
        cid=DISCUSSION_ID,
        post=False,
        from_id=types.PeerUser(501),
        reply_to=types.MessageReplyHeader(reply_to_msg_id=head),
    )


def replies(n: int, max_id: int) -> types.MessageReplies:
    return types.MessageReplies(
        replies=n, replies_pts=1, comments=True, channel_id=DISCUSSION_ID, max_id=max_id
    )


def client_with_thread() -> FakeClient:
    client = FakeClient()
    client.add_channel(
        channel(), [post(1, "with comments", replies=replies(2, 72)), post(2, "quiet", replies=replies(0, 0))]
    )
    client.add_channel(channel(DISCUSSION_ID, None, "Trantor Chat", broadcast=False, megagroup=True))
    client.by_id[501] = USER
    client.threads[(CHAN_ID, 1)] = [comment(71, "great post"), comment(72, "agreed")]
    return client


def thread_reads(client: FakeClient) -> list[Any]:
    return [arg for what, arg in client.calls if what == "replies"]


def test_comments_are_linked_to_their_post() -> None:
    """Every comment comes back once, as a message of the discussion chat, with thread_of = the post's id."""
    client = client_with_thread()
    source, _ = make_source(client)
    pages = run(collect(source, cursor=None, comments=True))
    found = [c for p in pages for c in p.comments]
    assert [(c.channel_id, c.message_id, c.thread_of, c.text) for c in found] == [
        (DISCUSSION_ID, 71, 1, "great post"),
        (DISCUSSION_ID, 72, 1, "agreed"),
    ]
    assert all(m.thread_of is None for p in pages for m in p.messages)
    assert thread_reads(client) == [0]  # post 2 has no comment: its thread is not asked for


def test_comments_are_read_incrementally_and_arrive_once() -> None:
    """With the stored cursors, a re-read post's thread is read only above its last comment, or not at all."""
    client = client_with_thread()
    source, _ = make_source(client, edit_window=5)
    first = [c for p in run(collect(source, cursor=None, comments=True)) for c in p.comments]
    cursors = {1: max(c.message_id for c in first if c.thread_of == 1)}

    client.calls.clear()
    pages = run(collect(source, cursor=2, known_ids=[1, 2], comments=True, comment_cursors=cursors))
    again = [c for p in pages for c in p.comments]
    assert again == []  # replies.max_id says nothing new: not even a request
    assert thread_reads(client) == []

    client.threads[(CHAN_ID, 1)].append(comment(75, "one more"))
    client.history[CHAN_ID][1] = post(1, "with comments", replies=replies(3, 75))
    client.calls.clear()
    pages = run(collect(source, cursor=2, known_ids=[1, 2], comments=True, comment_cursors=cursors))
    new = [(c.message_id, c.thread_of) for p in pages for c in p.comments]
    assert new == [(75, 1)]
    assert thread_reads(client) == [72]  # min_id = the last stored comment


def test_floodwait_while_reading_a_thread_is_honoured_without_duplicates() -> None:
    """A short FloodWait on the replies request is slept; the thread resumes after the last comment read."""
    client = client_with_thread()
    client.chunk = 1
    client.threads[(CHAN_ID, 1)].append(comment(73, "third"))
    source, slept = make_source(client)
    # 1 get_entity, 2-4 history (one message a request), 5 replies from 0 (gives 71),
    # 6 replies from 71: FloodWait, then resumed from 71.
    client.flood_plan[6] = 2
    found = [c for p in run(collect(source, cursor=None, comments=True)) for c in p.comments]
    assert [c.message_id for c in found] == [71, 72, 73]
    assert slept == [2]
    assert thread_reads(client)[:3] == [0, 71, 71]


def test_comments_of_an_album_link_to_the_album_post() -> None:
    """Comments written under any member of an album link to the album's post (its first member's id)."""
    client = FakeClient()
    client.add_channel(
        channel(),
        [
            post(5, "", media=photo(), grouped_id=9),
            post(6, "album", media=photo(), grouped_id=9, replies=replies(1, 80)),
        ],
    )
    client.add_channel(channel(DISCUSSION_ID, None, "Trantor Chat", broadcast=False, megagroup=True))
    client.by_id[501] = USER
    client.threads[(CHAN_ID, 6)] = [comment(80, "nice photos")]
    source, _ = make_source(client)
    pages = run(collect(source, cursor=None, comments=True))
    assert [m.message_id for p in pages for m in p.messages] == [5]
    assert [(c.message_id, c.thread_of) for p in pages for c in p.comments] == [(80, 5)]
