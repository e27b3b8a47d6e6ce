"""The topicize step: place new and changed posts in the stored topics, or re-cluster the channel.

Incremental by default. A channel with a stored fit
(:class:`tg_parser.topics.stable.TopicModel`, table ``topic_fits``) gets its
new and changed posts vectorised in the stored space and placed in the topic
of the nearest centre; no other post moves and no topic is renumbered. A full
re-cluster happens instead when:

* it is asked for (``tg-parser topicize CHANNEL --full``);
* the channel has no stored fit, or its fit is of another feature version
  (:data:`tg_parser.topics.vectorize.FEATURES_VERSION`) or cannot be read;
* the fit's embedding space differs from this run's (``embedding_space``): it
  was made with another provider embedding model, or with none while this run
  has one, or the other way round (``TOPIC_EMBEDDINGS``,
  :mod:`tg_parser.services.topic_embeddings`);
* drift is high (:func:`tg_parser.topics.stable.drift_reason`): the new and
  changed posts are more than ``MAX_NEW_SHARE`` (20 %) of the channel, or more
  than ``MAX_FAR_SHARE`` (25 %) of them are far from every centre.

A full re-cluster of a channel that has a stored fit starts k-means warm from
its topics' centres, recomputed in the new space, and keeps their number of
topics unless another is clearly better
(:func:`tg_parser.topics.cluster.fit_clusters`), so most posts stay together.
It then keeps the id of every topic it can match by member overlap
(:func:`tg_parser.topics.stable.number_clusters`); new topics get numbers
from the channel's counter, never reused.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog

from tg_parser.config import Settings
from tg_parser.domain import Topic
from tg_parser.domain.runs import RunStatus
from tg_parser.services.dispatch import Dispatcher
from tg_parser.services.processors import usable_cores
from tg_parser.services.topic_embeddings import embed_channel_posts
from tg_parser.storage import (
    Session,
    channels,
    documents,
    post_embeddings,
    runs,
    session_scope,
    topic_fits,
    usage,
)
from tg_parser.topics.build import ASSIGN_BATCH, cluster_posts, keyword_label, topic_key
from tg_parser.topics.cluster import PreviousTopics
from tg_parser.topics.stable import TopicModel, drift_reason, number_clusters
from tg_parser.topics.vectorize import FEATURES_VERSION, Analyzer, tokenize

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from tg_parser.topics.provider_block import PostVectors

log = structlog.get_logger(__name__)

__all__ = ["MAX_DEFAULT_TOPIC_PROCESSES", "TopicizeResult", "topic_processes", "topicize"]


MAX_DEFAULT_TOPIC_PROCESSES = 4
"""Default cap on topicize's worker processes (``TOPIC_PROCESSES`` unset): past it, memory grows faster
than the pass shortens (the main process reads the database for every worker)."""


@dataclass(frozen=True)
class TopicizeResult:
    """What a topicize did.

    Attributes:
        topics: Number of topics after it (``-1`` when skipped as a redelivery).
        fit: ``full`` or ``incremental`` (``skipped`` for a redelivery).
        reason: Why a full re-cluster ran (``requested``, ``no_fit``, ``features_version``,
            ``embedding_space``, ``unreadable_fit``, ``new_share``, ``far_share``), or ``None``.
        placed: Posts placed anew (all on a first fit; the new and changed ones incrementally).
        posts: The channel's live posts.
        drift: The drift figures stored with the fit.
    """

    topics: int
    fit: str
    reason: str | None = None
    placed: int = 0
    posts: int = 0
    drift: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Plan:
    topics: list[Topic]
    previous: list[Topic]
    moves: list[tuple[int, str, str]]
    kind: str
    reason: str | None
    drift: dict[str, Any]
    model: TopicModel | None = None
    next_number: int = 1


def topicize(
    *,
    settings: Settings,
    channel: str,
    run_id: str | None,
    dispatcher: Dispatcher | None,
    full: bool = False,
) -> TopicizeResult:
    """Topicize a channel: incrementally when its stored fit allows, else by a full re-cluster.

    With a ``run_id`` it acts only while the run is ``topicizing`` (a
    redelivered task does nothing) and then hands over to export. Topic
    labels come from the LLM when one is configured; a topic whose members and
    keywords did not change keeps its LLM label
    (:func:`tg_parser.services.topic_labels.label_topics_with_llm`). With
    provider embeddings (``TOPIC_EMBEDDINGS``), posts without a stored vector
    are embedded first (:func:`tg_parser.services.topic_embeddings.embed_channel_posts`).

    Args:
        settings: Settings (database, seed, LLM).
        channel: The channel key.
        run_id: The run, or ``None`` for a stand-alone topicize.
        dispatcher: Where export goes next (with a run).
        full: Re-cluster even when the stored fit would do.

    Returns:
        What was done.

    Raises:
        NotFoundError: No such channel.
        ConfigurationError: ``TOPIC_EMBEDDINGS=provider`` and the provider cannot embed.
        PermanentError: ``TOPIC_EMBEDDINGS=provider`` and an embeddings request gave up.
    """
    db = settings.database_url
    with session_scope(db) as session:
        ch = channels.get_channel(session, key=channel)
        if run_id is not None and runs.get_run(session, run_id=run_id).status is not RunStatus.TOPICIZING:
            return TopicizeResult(topics=-1, fit="skipped")
    embedding_model = embed_channel_posts(settings=settings, channel_pk=ch.pk, channel=channel, run_id=run_id)
    with session_scope(db) as session:
        plan = _plan(
            session,
            channel_pk=ch.pk,
            channel=channel,
            seed=settings.topic_seed,
            full=full,
            embedding_model=embedding_model,
            processes=topic_processes(settings),
        )
    found = plan.topics
    if _labels_from_llm(settings) and found:
        from tg_parser.services.topic_labels import label_topics_with_llm

        with session_scope(db) as session:
            texts = {mid: text for _pk, mid, text, _kw in documents.topic_inputs(session, channel_pk=ch.pk)}
        found, calls = label_topics_with_llm(
            settings=settings,
            topics=found,
            previous=plan.previous,
            texts=texts,
            run_id=run_id,
            channel=channel,
        )
        with session_scope(db) as session:
            usage.record_llm_calls(
                session, usage=calls, run_id=run_id, channel_pk=ch.pk, message_pk=None, purpose="topic_label"
            )
    at = topic_fits.now()
    drift = plan.drift | {"at": at.isoformat()}
    with session_scope(db) as session:
        topic_fits.store_topics(
            session, channel_pk=ch.pk, topics=found, moves=plan.moves, fit_kind=plan.kind, at=at
        )
        if plan.model is not None:
            topic_fits.save_full_fit(
                session,
                channel_pk=ch.pk,
                model=plan.model.dumps(),
                features_version=plan.model.features_version,
                fitted_at=at,
                next_number=plan.next_number,
                drift=drift,
            )
        elif plan.kind == "incremental":
            topic_fits.record_incremental(session, channel_pk=ch.pk, at=at, drift=drift)
        moved = True
        if run_id is not None:
            moved = runs.finish_topicize(session, run_id=run_id, topics=len(found))
    n_posts = int(plan.drift.get("posts", 0))
    log.info(
        "topicize_done",
        channel=channel,
        run_id=run_id,
        topics=len(found),
        documents=n_posts,
        fit=plan.kind,
        reason=plan.reason,
        placed=len(plan.moves),
    )
    if run_id is not None and moved and dispatcher is not None:
        dispatcher.export(channel_key=channel, run_id=run_id)
    return TopicizeResult(
        topics=len(found),
        fit=plan.kind,
        reason=plan.reason,
        placed=len(plan.moves),
        posts=n_posts,
        drift=drift,
    )


def _labels_from_llm(settings: Settings) -> bool:
    """Whether topic labels come from the configured LLM (not offline, no custom processor)."""
    return settings.llm.llm_provider != "offline" and not settings.processor_factory


def _number(key: str | None, prefix: str) -> int:
    """Topic number of a key of this channel, or -1 (no topic, or a key of another shape)."""
    if key is None or not key.startswith(prefix):
        return -1
    tail = key[len(prefix) :]
    return int(tail) if tail.isdigit() else -1


def topic_processes(settings: Settings) -> int:
    """Return the worker processes of topicize's assignment pass.

    Args:
        settings: Settings (``TOPIC_PROCESSES``).

    Returns:
        ``TOPIC_PROCESSES`` when set, else the usable cores, at most
        :data:`MAX_DEFAULT_TOPIC_PROCESSES` (each worker holds its own tokeniser
        caches and batches, about 110 MB at 100k posts).
    """
    if settings.topic_processes is not None:
        return settings.topic_processes
    return min(usable_cores(), MAX_DEFAULT_TOPIC_PROCESSES)


def _plan(
    session: Session,
    *,
    channel_pk: int,
    channel: str,
    seed: int,
    full: bool,
    embedding_model: str | None,
    processes: int = 1,
) -> _Plan:
    placed = topic_fits.placements(session, channel_pk=channel_pk)
    stored = topic_fits.load_fit(session, channel_pk=channel_pk, with_model=not full)
    rows = topic_fits.stored_topic_rows(session, channel_pk=channel_pk)
    prefix = topic_key(channel, 0)[:-1]
    numbers = np.array([_number(k, prefix) for k in placed.topic_keys], dtype=np.int64)
    previous = _previous_topics(placed.ids, numbers, rows, channel=channel)
    pending = placed.pending()
    n_posts, n_pending = len(placed.ids), int(pending.sum())
    drift: dict[str, Any] = {
        "posts": n_posts,
        "pending": n_pending,
        "features_version": FEATURES_VERSION,
        "embedding_model": embedding_model,
    }
    extra = (
        post_embeddings.StoredVectors(session, channel_pk=channel_pk, model=embedding_model)
        if embedding_model is not None
        else None
    )
    model, reason = _stored_model(stored, full=full, embedding_model=embedding_model)
    if stored is not None:
        stored = dataclasses.replace(stored, model=b"")  # unpickled or unusable: the bytes can go
    if model is not None and n_posts:
        reason = drift_reason(pending=n_pending, channel_posts=n_posts, far=0)
        if reason is None:
            assigned, far = _assign(
                session, model, channel_pk=channel_pk, ids=placed.ids[pending], extra=extra
            )
            drift |= {"far": far, "radius": model.radius}
            reason = drift_reason(pending=n_pending, channel_posts=n_posts, far=far)
            if reason is None:
                numbers[pending] = assigned
                topics = _incremental_topics(placed.ids, numbers, rows, model, channel=channel)
                moves = [
                    (int(placed.pks[i]), topic_key(channel, int(numbers[i])), placed.hashes[i])
                    for i in np.flatnonzero(pending).tolist()
                    if numbers[i] >= 0
                ]
                drift |= {"reason": None}
                return _Plan(topics, previous, moves, "incremental", None, drift)
    if not n_posts:
        return _Plan([], previous, [], "incremental" if model else "full", reason, drift | {"reason": reason})
    del model  # a stored model the drift rules set aside: not held through the fit (or by its workers)
    had = numbers >= 0
    # A channel that was fitted before re-clusters warm from its topics (ids survive); a first fit is cold.
    warm_from = PreviousTopics(placed.ids[had], numbers[had]) if stored is not None and had.any() else None
    found = cluster_posts(
        documents.TopicPosts(session, channel_pk=channel_pk),
        seed=seed,
        extra=extra,
        previous=warm_from,
        processes=processes,
    )
    counter = max([stored.next_number if stored else 1, 1, *(n + 1 for n in numbers.tolist())])
    counter = max([counter, *(_number(k, prefix) + 1 for k in rows)])
    by_cluster, counter = number_clusters(
        found, previous_ids=placed.ids[had], previous_numbers=numbers[had], next_number=counter
    )
    topics = found.topics(by_cluster, channel_key=channel)
    # The fit read the live documents again: align it with the placements (a post that came or went
    # in between is placed by the next topicize).
    where = np.minimum(np.searchsorted(found.ids, placed.ids), max(len(found.ids) - 1, 0))
    present = found.ids[where] == placed.ids if len(found.ids) else np.zeros(n_posts, dtype=np.bool_)
    new_numbers = np.full(n_posts, -1, dtype=np.int64)
    new_numbers[present] = [by_cluster[int(c)] for c in found.labels[where[present]].tolist()]
    kept = (new_numbers == numbers) & ~pending
    moves = [
        (int(placed.pks[i]), topic_key(channel, int(new_numbers[i])), placed.hashes[i])
        for i in np.flatnonzero(~kept & present).tolist()
    ]
    keep_share = float(kept[had].mean()) if had.any() else None
    drift |= {"reason": reason, "kept_share": keep_share, "radius": None}
    model = TopicModel.from_clustering(found, by_cluster)
    drift["radius"] = model.radius
    return _Plan(topics, previous, moves, "full", reason, drift, model=model, next_number=counter)


def _stored_model(
    stored: topic_fits.StoredFit | None, *, full: bool, embedding_model: str | None
) -> tuple[TopicModel | None, str | None]:
    """Return the usable stored model, or ``None`` and why a full re-cluster is needed.

    A fit made in another embedding space (another model, or with or without provider vectors) is not
    used: its centres have other dimensions or mean other things (``embedding_space``).
    """
    if full:
        return None, "requested"
    if stored is None:
        return None, "no_fit"
    if stored.features_version != FEATURES_VERSION:
        return None, "features_version"
    try:
        model = TopicModel.loads(stored.model)
    except (pickle.UnpicklingError, TypeError, AttributeError, ImportError, EOFError, ValueError) as exc:
        log.warning("topic_fit_unreadable", error=str(exc))
        return None, "unreadable_fit"
    mismatch = None
    if model.features_version != FEATURES_VERSION:
        mismatch = "features_version"
    elif model.embedding_model != embedding_model:
        mismatch = "embedding_space"
    return (None, mismatch) if mismatch else (model, None)


def _assign(
    session: Session,
    model: TopicModel,
    *,
    channel_pk: int,
    ids: NDArray[np.int64],
    extra: PostVectors | None,
) -> tuple[NDArray[np.int64], int]:
    """Place posts by the stored model, a batch at a time; return their topic numbers and how many are far.

    A post that is gone by the time its text is read (deleted meanwhile) gets ``-1``: in no topic. With
    a provider block, the posts' stored provider vectors are read by batch too.
    """
    out = np.full(len(ids), -1, dtype=np.int64)
    far = 0
    if not len(ids):
        return out, far
    analyzer = Analyzer()
    source = documents.TopicPosts(session, channel_pk=channel_pk)
    for batch in source.batches(wanted=set(ids.tolist()), size=ASSIGN_BATCH):
        tokens = tokenize(["\n".join([t, *kw]) if kw else t for _m, t, kw in batch], analyzer=analyzer)
        raw = None
        if model.provider is not None and extra is not None:
            raw = extra.vectors([m for m, _t, _kw in batch])
        numbers, distances = model.assign(tokens, raw=raw)
        out[np.searchsorted(ids, np.asarray([m for m, _t, _kw in batch], dtype=np.int64))] = numbers
        far += int((distances > model.radius).sum())
    return out, far


def _members(ids: NDArray[np.int64], numbers: NDArray[np.int64]) -> dict[int, list[int]]:
    members: dict[int, list[int]] = defaultdict(list)
    for mid, n in zip(ids.tolist(), numbers.tolist(), strict=True):
        if n >= 0:
            members[n].append(mid)
    return members


def _previous_topics(
    ids: NDArray[np.int64],
    numbers: NDArray[np.int64],
    rows: dict[str, tuple[str, list[str], str | None]],
    *,
    channel: str,
) -> list[Topic]:
    """Return the stored topics with their live members (for LLM label reuse)."""
    out = []
    for n, members in sorted(_members(ids, numbers).items()):
        key = topic_key(channel, n)
        label, keywords, summary = rows.get(key, ("", [], None))
        out.append(Topic(topic_id=key, label=label, keywords=keywords, summary=summary, member_ids=members))
    return out


def _incremental_topics(
    ids: NDArray[np.int64],
    numbers: NDArray[np.int64],
    rows: dict[str, tuple[str, list[str], str | None]],
    model: TopicModel,
    *,
    channel: str,
) -> list[Topic]:
    """Every topic after placing the pending posts; keywords stay those of the last full fit."""
    members = _members(ids, numbers)
    out = []
    for n in sorted(members, key=lambda n: (-len(members[n]), members[n][0])):
        key = topic_key(channel, n)
        stored = rows.get(key)
        keywords = stored[1] if stored is not None else model.keywords.get(n, [])
        out.append(
            Topic(topic_id=key, label=keyword_label(keywords), keywords=keywords, member_ids=members[n])
        )
    return out
