# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""Topicization of a channel's posts: vectorize → cluster → label.

The public surface is :func:`build_topics` and :class:`TopicInput`; the
modules behind it are :mod:`~tg_parser.topics.vectorize`,
:mod:`~tg_parser.topics.cluster` and :mod:`~tg_parser.topics.label` (which
reads posts without the channel boilerplate of :mod:`~tg_parser.topics.boilerplate`).
"""

from tg_parser.topics.build import PostSource, TopicInput, build_topics, build_topics_from

__all__ = ["PostSource", "TopicInput", "build_topics", "build_topics_from"]
