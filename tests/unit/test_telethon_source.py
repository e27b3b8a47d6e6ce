"""TelethonSource against real Telethon TL objects served by a fake client.

The fake client keeps Telethon's calling conventions (``iter_messages`` with
``min_id``/``reverse``/``reply_to``, ``get_messages`` with ``limit``/
``offset_id``/``offset_date``/``add_offset``, ``get_entity``), serves history in
requests of ``chunk`` messages like ``messages.getHistory`` does, finishes each
message with Telethon's own ``Message._finish_init`` and can raise real
Telethon errors (FloodWait…) at any request.
"""

# Test helpers and fakes need no docstrings; every test has one.
# ruff: noqa: D102, D103

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from telethon import errors, utils
from telethon._updates import EntityCache
from telethon.tl import types

from tg_parser.domain import EntityType
from tg_parser.errors import InputError, PermanentError, RetryableError
from tg_parser.sources.telethon_source import (
    FetchPage,
    TelethonSource,
    convert_entities,
    media_type,
    to_peer,
)

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
CHAN_ID = 1878264527
DISCUSSION_ID = 1999000111


def channel(
    cid: int = CHAN_ID, username: str | None = "trantor", title: str = "Trantor", **kw
) -> types.Channel:
    return types.Channel(
        id=cid,
        title=title,
        photo=types.ChatPhotoEmpty(),
        date=T0,
        access_hash=cid * 7,
        username=username,
        broadcast=kw.pop("broadcast", True),
        **kw,
    )


def post(mid: int, text: str = "", *, cid: int = CHAN_ID, **kw) -> types.Message:
    kw.setdefault("date", T0 + timedelta(minutes=mid))
    return types.Message(
        id=mid, peer_id=types.PeerChannel(cid), message=text, post=kw.pop("post", True), **kw
    )


def service(mid: int) -> types.MessageService:
    return types.MessageService(
        id=mid,
        peer_id=types.PeerChannel(CHAN_ID),
        date=T0 + timedelta(minutes=mid),
        action=types.MessageActionPinMessage(),
    )


def photo() -> types.MessageMediaPhoto:
    return types.MessageMediaPhoto(
        photo=types.Photo(id=1, access_hash=2, file_reference=b"\x00\x01", date=T0, sizes=[], dc_id=2)
    )


def document(*attributes: Any, mime: str = "application/octet-stream") -> types.MessageMediaDocument:
    doc = types.Document(
        id=5,
        access_hash=6,
        file_reference=b"",
        date=T0,
        mime_type=mime,
        size=10,
        dc_id=2,
        attributes=list(attributes),
    )
    return types.MessageMediaDocument(document=doc)


NOT_FOUND = "Could not find the input entity for {!r}"


class FakeClient:
    """Serves a fake Telegram account's channels with Telethon's method signatures."""

    def __init__(self, *, chunk: int = 100) -> None:
        self._self_id = 42
        self._mb_entity_cache = EntityCache()
        self.chunk = chunk
        self.entities: dict[str, Any] = {}  # username -> entity
        self.by_id: dict[int, Any] = {}  # bare id -> entity
        self.history: dict[int, dict[int, Any]] = {}  # bare chat id -> {msg id: message}
        self.threads: dict[tuple[int, int], list[types.Message]] = {}
        self.failures: dict[int, Exception] = {}  # bare chat id -> error on every call
        self.flood_plan: dict[int, int] = {}  # request number (1-based) -> FloodWait seconds
        self.requests = 0
        self.calls: list[tuple[str, Any]] = []

    def add_channel(self, entity: Any, messages: list[Any] = ()) -> None:
        if entity.username:
            self.entities[entity.username.lower()] = entity
        self.by_id[entity.id] = entity
        self.history[entity.id] = {m.id: m for m in messages}

    def _request(self, what: str, arg: Any = None) -> None:
        self.requests += 1
        self.calls.append((what, arg))
        seconds = self.flood_plan.pop(self.requests, None)
        if seconds is not None:
            raise errors.FloodWaitError(request=None, capture=seconds)

    def _check(self, entity: Any) -> None:
        failure = self.failures.get(entity.id)
        if failure is not None:
            raise failure

    def _finish(self, messages: list[Any]) -> list[Any]:
        known = {utils.get_peer_id(e): e for e in self.by_id.values()}
        for m in messages:
            m._finish_init(self, known, None)  # noqa: SLF001 - what Telethon does to every message it returns
        return messages

    async def get_entity(self, ref: Any) -> Any:
        self._request("get_entity", ref)
        if isinstance(ref, str):
            entity = self.entities.get(ref.lower())
            if entity is None:
                raise errors.UsernameNotOccupiedError(request=None)
        elif isinstance(ref, types.PeerChannel):
            entity = self.by_id.get(ref.channel_id)
            if entity is None:
                raise ValueError(NOT_FOUND.format(ref))
        else:
            raise ValueError(NOT_FOUND.format(ref))  # noqa: TRY004 - Telethon raises ValueError here
        self._check(entity)
        return entity

    async def get_messages(
        self,
        entity: Any,
        limit: int | None = None,
        *,
        offset_id: int = 0,
        offset_date=None,
        add_offset: int = 0,
    ) -> list[Any]:
        self._request("get_messages", {"limit": limit, "offset_id": offset_id, "add_offset": add_offset})
        self._check(entity)
        msgs = sorted(self.history[entity.id].values(), key=lambda m: -m.id)  # newest first
        if offset_id:
            msgs = [m for m in msgs if m.id < offset_id]
        if offset_date is not None:
            msgs = [m for m in msgs if m.date < offset_date]
        msgs = msgs[add_offset:]
        return self._finish(msgs[: limit if limit is not None else len(msgs)])

    def iter_messages(
        self, entity: Any, limit: int | None = None, *, min_id: int = 0, reverse: bool = False, reply_to=None
    ) -> Any:
        assert reverse, "the source only reads history oldest-first"
        assert limit is None, "the source pages by min_id, never by limit"
        return self._iter(entity, min_id=min_id, reply_to=reply_to)

    async def _iter(self, entity: Any, *, min_id: int, reply_to: int | None) -> Any:
        position = min_id
        while True:
            self._request("history" if reply_to is None else "replies", position)
            self._check(entity)
            if reply_to is None:
                source = sorted(self.history[entity.id].values(), key=lambda m: m.id)
            else:
                source = self.threads.get((entity.id, reply_to), [])
            batch = [m for m in source if m.id > position][: self.chunk]
            for m in self._finish(batch):
                yield m
            if len(batch) < self.chunk:
                return
            position = batch[-1].id
            await asyncio.sleep(0)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def collect(source: TelethonSource, ref: str | int = "@trantor", **kw: Any) -> list[FetchPage]:
    return [page async for page in source.fetch(ref, **kw)]


def make_source(client: FakeClient, **kw: Any) -> tuple[TelethonSource, list[float]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    kw.setdefault("page_size", 5)
    return TelethonSource(client, sleep=sleep, **kw), slept


def standard_history() -> list[Any]:
    """Twenty-odd posts: plain posts, a service message, an album across a page boundary."""
    msgs: list[Any] = [post(i, f"post {i}") for i in range(1, 4)]
    msgs.append(service(4))
    msgs += [post(i, f"post {i}") for i in range(5, 9)]
    # album 9..11 straddles the page boundary at 10 when page_size=5
    msgs += [
        post(9, "", media=photo(), grouped_id=777),
        post(10, "album caption", media=photo(), grouped_id=777),
        post(11, "", media=photo(), grouped_id=777),
    ]
    msgs += [post(i, f"post {i}") for i in range(12, 24)]
    return msgs


def standard_client(chunk: int = 4) -> FakeClient:
    client = FakeClient(chunk=chunk)
    client.add_channel(channel(), standard_history())
    return client


EXPECTED_POSTS = [1, 2, 3, 5, 6, 7, 8, 9, *range(12, 24)]


# -- resolution --------------------------------------------------------------------------------


def test_resolves_usernames_links_and_numeric_ids() -> None:
    """@name, t.me links (with a post suffix), -100 ids, bare ids and t.me/c links all reach one channel."""
    client = standard_client()
    source, _ = make_source(client)
    refs = ["@trantor", "trantor", "https://t.me/trantor", "t.me/Trantor/25", "-1001878264527",
            CHAN_ID, "https://t.me/c/1878264527/10"]  # fmt: skip
    infos = [run(source.resolve(ref)) for ref in refs]
    assert {i.telegram_id for i in infos} == {CHAN_ID}
    assert infos[0].username == "trantor"
    assert infos[0].chat_type == "public_channel"
    assert to_peer(-1001878264527) == types.PeerChannel(CHAN_ID)
    assert to_peer("-4567") == types.PeerChat(4567)
    with pytest.raises(InputError, match="invite link"):
        to_peer("https://t.me/+AbCdEf")
    with pytest.raises(InputError):
        to_peer("not a name!")


def test_unknown_username_and_uncached_id_are_permanent_errors_naming_the_channel() -> None:
    """A username nobody has and an id the session never saw fail permanently with the reference."""
    source, _ = make_source(standard_client())
    with pytest.raises(PermanentError, match="@nobody_here") as unknown:
        run(source.resolve("@nobody_here"))
    assert "no channel has this username" in str(unknown.value)
    with pytest.raises(PermanentError, match="12345678"):
        run(source.resolve(12345678))


# -- paging ------------------------------------------------------------------------------------


def test_backfill_pages_are_oldest_first_with_monotonic_cursor() -> None:
    """A first run yields every post once, ascending, pages covering (prev max_id_seen, max_id_seen]."""
    source, _ = make_source(standard_client())
    pages = run(collect(source, cursor=None))
    ids = [m.message_id for p in pages for m in p.messages]
    assert ids == EXPECTED_POSTS
    assert [p.done for p in pages] == [False] * (len(pages) - 1) + [True]
    previous = 0
    for page in pages:
        assert page.max_id_seen >= previous
        assert all(previous < m.message_id <= page.max_id_seen for m in page.messages)
        previous = page.max_id_seen
    assert pages[-1].max_id_seen == 23
    assert not any(p.window for p in pages)


def test_album_is_one_post_and_never_split_across_pages() -> None:
    """Album members become one post: lowest id, the caption of the member with text, the group's media."""
    source, _ = make_source(standard_client())
    pages = run(collect(source, cursor=None))
    album = next(m for p in pages for m in p.messages if m.grouped_id == 777)
    assert album.message_id == 9
    assert album.text == "album caption"
    assert album.media_type == "photo"
    assert [m["id"] for m in album.raw["messages"]] == [9, 10, 11]
    holder = next(p for p in pages if album in p.messages)
    assert holder.max_id_seen >= 11  # the cursor passes all members at once


def test_backfill_bounded_by_limit_and_since() -> None:
    """``limit`` keeps the newest N messages; ``since`` keeps posts sent at or after it."""
    source, _ = make_source(standard_client())
    by_limit = run(collect(source, cursor=None, limit=3))
    assert [m.message_id for p in by_limit for m in p.messages] == [21, 22, 23]
    since = T0 + timedelta(minutes=20)
    by_since = run(collect(source, cursor=None, since=since))
    assert [m.message_id for p in by_since for m in p.messages] == [20, 21, 22, 23]
    nothing = run(collect(source, cursor=None, since=T0 + timedelta(days=9)))
    assert [m for p in nothing for m in p.messages] == []
    assert nothing[-1].max_id_seen == 23  # later runs start after the newest message, not from 0


def test_incremental_fetch_reads_only_newer_posts_plus_the_edit_window() -> None:
    """With a cursor, only posts above it are new; the window page re-reads the last few at or below it."""
    client = standard_client()
    source, _ = make_source(client, edit_window=3)
    pages = run(collect(source, cursor=20, known_ids=[19, 20]))
    window, rest = pages[0], pages[1:]
    assert window.window
    assert window.max_id_seen == 20
    assert [m.message_id for m in window.messages] == [18, 19, 20]
    assert [m.message_id for p in rest for m in p.messages] == [21, 22, 23]
    assert rest[-1].done
    assert rest[-1].max_id_seen == 23


def test_edit_in_window_sets_edited_and_new_text() -> None:
    """A post edited after it was fetched comes back in the window with its new text and edit time."""
    client = standard_client()
    source, _ = make_source(client, edit_window=5)
    first = run(collect(source, cursor=None))
    before = next(m for p in first for m in p.messages if m.message_id == 22)
    assert before.edited is None
    edit_time = T0 + timedelta(hours=5)
    client.history[CHAN_ID][22] = post(22, "post 22, corrected", edit_date=edit_time)
    again = run(collect(source, cursor=23, known_ids=[19, 20, 21, 22, 23]))
    after = next(m for m in again[0].messages if m.message_id == 22)
    assert after.edited == edit_time
    assert after.text == "post 22, corrected"
    assert after.content_hash() != before.content_hash()
    assert again[0].deleted_ids == []


def test_deleted_posts_in_the_window_are_reported() -> None:
    """Known ids in the window that Telegram no longer returns are reported deleted; older ones aren't."""
    client = standard_client()
    source, _ = make_source(client, edit_window=4)
    del client.history[CHAN_ID][21]
    del client.history[CHAN_ID][2]
    pages = run(collect(source, cursor=23, known_ids=[2, 3, 20, 21, 22, 23]))
    assert pages[0].deleted_ids == [21]  # 2 is far below the window: unknown, not deleted
    assert 21 not in [m.message_id for p in pages for m in p.messages]


# -- FloodWait and interruption ------------------------------------------------------------------


def drive(
    source: TelethonSource, store: dict[int, Any], new_ids: list[int], cursor: int | None
) -> int | None:
    """Run one fetch like the ingest service: commit each page, then advance the cursor."""

    async def go() -> None:
        nonlocal cursor
        async for page in source.fetch("@trantor", cursor=cursor, known_ids=sorted(store)):
            for m in page.messages:
                if not page.window:
                    assert cursor is None or m.message_id > cursor
                    new_ids.append(m.message_id)
                store[m.message_id] = m
            cursor = page.max_id_seen  # committed

    try:
        run(go())
    except RetryableError:
        return cursor
    return cursor


def count_requests(chunk: int) -> int:
    client = standard_client(chunk)
    source, _ = make_source(client)
    run(collect(source, cursor=None))
    return client.requests


@pytest.mark.parametrize("chunk", [4, 5, 100])
def test_long_floodwait_at_every_request_then_resume_is_gap_free_without_duplicates(chunk: int) -> None:
    """A long FloodWait at any request raises RetryableError; resuming from the cursor misses nothing."""
    total = count_requests(chunk)
    for at in range(1, total + 1):
        client = standard_client(chunk)
        client.flood_plan = {at: 600}
        source, slept = make_source(client, flood_sleep_max_s=30)
        store: dict[int, Any] = {}
        new_ids: list[int] = []
        cursor = drive(source, store, new_ids, None)
        if client.flood_plan:
            pytest.fail(f"FloodWait at request {at} was never reached")
        assert slept == []  # a long wait is never slept in place
        cursor = drive(source, store, new_ids, cursor)
        assert new_ids == EXPECTED_POSTS, f"FloodWait at request {at}"
        assert sorted(store) == EXPECTED_POSTS
        assert cursor == 23


def test_long_floodwait_carries_the_wait_in_retry_after() -> None:
    """The RetryableError names the FloodWait seconds so the task retries no sooner."""
    client = standard_client()
    client.flood_plan = {3: 420}
    source, _ = make_source(client, flood_sleep_max_s=30)
    with pytest.raises(RetryableError, match="420 s") as caught:
        run(collect(source, cursor=None))
    assert caught.value.retry_after_s == 420


def test_short_floodwait_at_every_request_is_slept_in_place_without_duplicates() -> None:
    """A FloodWait within TELEGRAM_FLOOD_SLEEP_MAX_S is slept and the fetch goes on with nothing twice."""
    total = count_requests(4)
    for at in range(1, total + 1):
        client = standard_client()
        client.flood_plan = {at: 7}
        source, slept = make_source(client, flood_sleep_max_s=30)
        pages = run(collect(source, cursor=None))
        assert slept == [7], f"FloodWait at request {at}"
        assert [m.message_id for p in pages for m in p.messages] == EXPECTED_POSTS


def test_repeated_short_floodwaits_give_up_instead_of_looping() -> None:
    """FloodWaits that keep coming without progress end in a RetryableError, not an endless loop."""
    client = standard_client()
    client.flood_plan = dict.fromkeys(range(1, 50), 5)
    source, slept = make_source(client, flood_sleep_max_s=30)
    with pytest.raises(RetryableError):
        run(collect(source, cursor=None))
    assert 1 <= len(slept) <= 3


@pytest.mark.parametrize("commit_last", [True, False])
def test_crash_after_any_page_resumes_gap_free(commit_last: bool) -> None:  # noqa: FBT001
    """A worker dying after yielding page k (committed or not) resumes from the saved cursor with no gap."""
    pages_total = len(run(collect(make_source(standard_client())[0], cursor=None)))
    for crash_after in range(1, pages_total + 1):
        source, _ = make_source(standard_client())
        store: dict[int, Any] = {}
        committed: int | None = None

        async def until_crash(
            source: TelethonSource = source, store: dict = store, limit: int = crash_after
        ) -> None:
            nonlocal committed
            seen = 0
            async for page in source.fetch("@trantor", cursor=None):
                seen += 1
                if seen == limit and not commit_last:
                    return  # died before committing this page
                for m in page.messages:
                    store[m.message_id] = m
                committed = page.max_id_seen
                if seen == limit:
                    return

        run(until_crash())
        new_ids: list[int] = []
        drive(source, store, new_ids, committed)
        assert sorted(store) == EXPECTED_POSTS
        assert len(new_ids) == len(set(new_ids))
        assert all(i > (committed or 0) for i in new_ids)


# -- errors per channel -------------------------------------------------------------------------


def test_private_channel_fails_clearly_and_other_channels_go_on() -> None:
    """A channel that became private raises PermanentError naming it; the next channels are read normally."""
    client = standard_client()
    client.add_channel(channel(555, "secret_club", "Secret"), [post(1, "hidden", cid=555)])
    client.add_channel(
        channel(666, "open_news", "News"), [post(1, "hello", cid=666), post(2, "again", cid=666)]
    )
    client.failures[555] = errors.ChannelPrivateError(request=None)
    source, _ = make_source(client)
    results: dict[str, Any] = {}
    for ref in ["@trantor", "@secret_club", "@open_news"]:
        try:
            results[ref] = [m.message_id for p in run(collect(source, ref, cursor=None)) for m in p.messages]
        except PermanentError as exc:
            results[ref] = str(exc)
    assert results["@trantor"] == EXPECTED_POSTS
    assert "@secret_club" in results["@secret_club"]
    assert "private" in results["@secret_club"]
    assert results["@open_news"] == [1, 2]


def test_revoked_session_says_to_log_in_again() -> None:
    """An unauthorised session is a permanent error telling the user to run auth login."""
    client = standard_client()
    client.failures[CHAN_ID] = errors.AuthKeyUnregisteredError(request=None)
    source, _ = make_source(client)
    client.by_id[CHAN_ID] = channel()
    with pytest.raises(PermanentError, match="tg-parser auth login"):
        run(collect(source, cursor=None))


# -- conversion ---------------------------------------------------------------------------------


def test_utf16_offsets_with_emoji_before_entities_become_code_points() -> None:
    """Astral emoji count two UTF-16 units in Telegram and one code point here; spans keep their text."""
    text = "🏷📅 Hi #tag, see docs and @bob 👍🏽 **x**"
    u16 = lambda s: len(s.encode("utf-16-le")) // 2  # noqa: E731
    tag_at = u16(text[: text.index("#tag")])
    docs_at = u16(text[: text.index("docs")])
    bob_at = u16(text[: text.index("@bob")])
    thumb_at = u16(text[: text.index("👍🏽")])
    tl = [
        types.MessageEntityHashtag(offset=tag_at, length=4),
        types.MessageEntityTextUrl(offset=docs_at, length=4, url="https://ex.org/docs"),
        types.MessageEntityMention(offset=bob_at, length=4),
        types.MessageEntityBold(offset=thumb_at, length=u16("👍🏽")),
    ]
    ents = convert_entities(text, tl)
    assert [(e.type, e.text) for e in ents] == [
        (EntityType.HASHTAG, "#tag"),
        (EntityType.TEXT_LINK, "docs"),
        (EntityType.MENTION, "@bob"),
        (EntityType.BOLD, "👍🏽"),
    ]
    assert ents[0].offset == text.index("#tag")
    assert ents[1].url == "https://ex.org/docs"


def test_every_entity_type_maps_to_the_export_name() -> None:
    """Each Telegram entity class becomes the Desktop export's type; unknown ones keep their class name."""
    text = "abcdefghijklmnopqrstuvwxyz"
    cases = [
        (types.MessageEntityTextUrl(0, 1, url="https://a.b"), EntityType.TEXT_LINK),
        (types.MessageEntityUrl(1, 1), EntityType.LINK),
        (types.MessageEntityMention(2, 1), EntityType.MENTION),
        (types.MessageEntityMentionName(3, 1, user_id=99), EntityType.MENTION_NAME),
        (types.MessageEntityHashtag(4, 1), EntityType.HASHTAG),
        (types.MessageEntityCashtag(5, 1), EntityType.CASHTAG),
        (types.MessageEntityBotCommand(6, 1), EntityType.BOT_COMMAND),
        (types.MessageEntityEmail(7, 1), EntityType.EMAIL),
        (types.MessageEntityPhone(8, 1), EntityType.PHONE),
        (types.MessageEntityBold(9, 1), EntityType.BOLD),
        (types.MessageEntityItalic(10, 1), EntityType.ITALIC),
        (types.MessageEntityUnderline(11, 1), EntityType.UNDERLINE),
        (types.MessageEntityStrike(12, 1), EntityType.STRIKETHROUGH),
        (types.MessageEntitySpoiler(13, 1), EntityType.SPOILER),
        (types.MessageEntityCode(14, 1), EntityType.CODE),
        (types.MessageEntityPre(15, 1, language="python"), EntityType.PRE),
        (types.MessageEntityBlockquote(16, 1), EntityType.BLOCKQUOTE),
        (types.MessageEntityCustomEmoji(17, 1, document_id=5), EntityType.CUSTOM_EMOJI),
        (types.MessageEntityBankCard(18, 1), EntityType.BANK_CARD),
        (types.MessageEntityUnknown(19, 1), EntityType.UNKNOWN),
    ]
    ents = convert_entities(text, [c[0] for c in cases])
    assert [e.type for e in ents] == [c[1] for c in cases]
    assert ents[1].url == "b"  # a plain link carries its own text, as the export reader does
    assert ents[3].user_id == 99
    assert ents[15].language == "python"
    assert ents[19].raw_type == "MessageEntityUnknown"


def test_message_fields_dates_views_reply_forward_reactions_and_author() -> None:
    """A rich post keeps views, reply id, forward origin, reactions of every kind and its signature."""
    client = FakeClient()
    origin = channel(4242, "origin_chan", "Origin Channel")
    reactions = types.MessageReactions(
        results=[
            types.ReactionCount(reaction=types.ReactionEmoji(emoticon="👍"), count=12),
            types.ReactionCount(reaction=types.ReactionCustomEmoji(document_id=5368324170671202286), count=3),
            types.ReactionCount(reaction=types.ReactionPaid(), count=2),
        ]
    )
    msgs = [
        post(1, "first"),
        post(
            2,
            "rich",
            views=1500,
            edit_date=T0 + timedelta(days=1),
            post_author="Daneel",
            reply_to=types.MessageReplyHeader(reply_to_msg_id=1),
            fwd_from=types.MessageFwdHeader(date=T0, from_id=types.PeerChannel(4242), channel_post=9),
            reactions=reactions,
            media=photo(),
        ),
        post(3, "hidden sender", fwd_from=types.MessageFwdHeader(date=T0, from_name="Anon Person")),
        post(4, "unknown origin", fwd_from=types.MessageFwdHeader(date=T0, from_id=types.PeerChannel(777))),
    ]
    client.add_channel(channel(), msgs)
    client.add_channel(origin)
    source, _ = make_source(client)
    posts = {m.message_id: m for p in run(collect(source, cursor=None)) for m in p.messages}
    rich = posts[2]
    assert rich.date == T0 + timedelta(minutes=2)
    assert rich.date.tzinfo is not None
    assert rich.edited == T0 + timedelta(days=1)
    assert rich.views == 1500
    assert rich.reply_to == 1
    assert rich.author == "Daneel"
    assert rich.forwarded_from == "Origin Channel"
    assert [(r.emoji, r.count) for r in rich.reactions] == [
        ("👍", 12),
        ("custom:5368324170671202286", 3),
        ("paid", 2),
    ]
    assert rich.media_type == "photo"
    assert rich.channel_id == CHAN_ID
    assert posts[3].forwarded_from == "Anon Person"
    assert posts[4].forwarded_from == "channel777"
    assert posts[1].author == "Trantor"  # unsigned channel post: the channel, as the export's "from"
    assert isinstance(rich.raw["date"], str)  # raw is JSON-safe


def test_media_types_match_the_desktop_export_names() -> None:
    """Documents are told apart by their attributes exactly as Telegram Desktop names them in exports."""
    sticker = types.DocumentAttributeSticker(alt="😀", stickerset=types.InputStickerSetEmpty())
    assert media_type(photo()) == "photo"
    assert media_type(document(sticker, types.DocumentAttributeVideo(1, 512, 512))) == "sticker"
    assert media_type(document(types.DocumentAttributeAnimated(), types.DocumentAttributeVideo(1, 2, 2))) == (
        "animation"
    )
    assert media_type(document(types.DocumentAttributeVideo(3.0, 640, 480))) == "video_file"
    assert (
        media_type(document(types.DocumentAttributeVideo(3.0, 240, 240, round_message=True)))
        == "video_message"
    )
    assert media_type(document(types.DocumentAttributeAudio(3, voice=True))) == "voice_message"
    assert media_type(document(types.DocumentAttributeAudio(200, title="Song"))) == "audio_file"
    assert media_type(document(types.DocumentAttributeFilename("a.pdf"))) == "document"
    poll = types.MessageMediaPoll(
        poll=types.Poll(id=1, question=types.TextWithEntities("Q?", []), answers=[], hash=0),
        results=types.PollResults(),
    )
    assert media_type(poll) == "poll"
    assert media_type(types.MessageMediaWebPage(webpage=types.WebPageEmpty(id=1))) is None
    assert media_type(None) is None


def test_comments_are_messages_of_the_linked_discussion_chat() -> None:
    """With comments=True, a post's discussion thread comes back as messages of the discussion chat."""
    client = FakeClient()
    discussion = channel(DISCUSSION_ID, None, "Trantor Chat", broadcast=False, megagroup=True)
    user = types.User(id=501, first_name="Ann", last_name="Lee")
    replies = types.MessageReplies(replies=2, replies_pts=1, comments=True, channel_id=DISCUSSION_ID)
    client.add_channel(channel(), [post(1, "with comments", replies=replies), post(2, "no comments")])
    client.add_channel(discussion)
    client.by_id[501] = user
    thread_head = 70
    client.threads[(CHAN_ID, 1)] = [
        post(71, "great post", cid=DISCUSSION_ID, post=False, from_id=types.PeerUser(501),
             reply_to=types.MessageReplyHeader(reply_to_msg_id=thread_head)),
        post(72, "agreed", cid=DISCUSSION_ID, post=False, from_id=types.PeerUser(501),
             reply_to=types.MessageReplyHeader(reply_to_msg_id=71, reply_to_top_id=thread_head)),
    ]  # fmt: skip
    source, _ = make_source(client)
    pages = run(collect(source, cursor=None, comments=True))
    found = [c for p in pages for c in p.comments]
    assert [(c.channel_id, c.message_id, c.text) for c in found] == [
        (DISCUSSION_ID, 71, "great post"),
        (DISCUSSION_ID, 72, "agreed"),
    ]
    assert found[0].author == "Ann Lee"
    assert found[1].reply_to == 71
    chat = next(p.comments_chat for p in pages if p.comments_chat)
    assert chat.telegram_id == DISCUSSION_ID
    assert chat.chat_type == "private_supergroup"
    assert [m.message_id for p in pages for m in p.messages] == [1, 2]
    assert ("replies", 0) in client.calls
    assert sum(1 for what, _ in client.calls if what == "replies") == 1  # post 2 has no thread to read
