# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""Forum topics of one chat of a Telegram Desktop ``result.json`` (issue 13).

Private helper of :mod:`tg_parser.sources.desktop_export`. A Desktop export
names no topic on a message. What it has (tdesktop's ``SerializeMessage``
and the real ``ensia_full_account_forum.json``):

* a ``topic_created`` service message, whose id is the topic's id (Telegram's
  ``reply_to_top_id``) and whose ``title`` is its first title;
* a ``topic_edit`` service message with ``new_title`` when it was renamed;
* on every message written in a topic, a ``reply_to_message_id``: the topic's
  root for a plain message, the message answered for a reply, which is itself
  in the topic. Following that chain back leads to the topic.

Messages are read in file order (ascending ids), so the message a chain step
points at has been seen already. Only the ids of messages that belong to a
topic are remembered (two integers each); a chat without ``topic_created``
remembers nothing and pays one dictionary check per post.

A ``topic_edit`` is applied to the topic its own ``reply_to_message_id``
chain leads to; a rename whose topic the export does not say (Desktop
sometimes writes it with no ``reply_to_message_id``) cannot be placed and is
ignored, so the topic keeps the title it was created with. Messages of the
General topic, and messages sent before the group became a forum, are in no
created topic: their topic is ``None``.
"""

from __future__ import annotations

from typing import Any, TypeVar

from tg_parser.domain import ForumTopic, Message
from tg_parser.domain.post_fields import PostFields

_Post = TypeVar("_Post", Message, PostFields)


class DesktopForumTopics:
    """The topics of one chat as its messages stream by; one instance per chat read."""

    __slots__ = ("_of", "titles")

    def __init__(self) -> None:
        """Start with no topic known."""
        #: Topic id → its current title.
        self.titles: dict[int, str] = {}
        #: Message id → topic id, for messages (and topic roots) inside a topic.
        self._of: dict[int, int] = {}

    def see_service(self, raw: dict[str, Any]) -> None:
        """Take note of a service message: a topic created or renamed, or a message inside a topic.

        Args:
            raw: A Desktop message object that is not a post (malformed
                fields are ignored; the message is counted as service anyway).
        """
        message_id = raw.get("id")
        if not isinstance(message_id, int) or isinstance(message_id, bool):
            return
        action = raw.get("action")
        if action == "topic_created":
            title = raw.get("title")
            self.titles[message_id] = title if isinstance(title, str) else ""
            self._of[message_id] = message_id
            return
        if not self.titles:
            return
        topic = self._topic_of_reply(raw)
        if topic is None:
            return
        self._of[message_id] = topic
        if action == "topic_edit":
            new_title = raw.get("new_title")
            if isinstance(new_title, str) and new_title:
                self.titles[topic] = new_title

    def place(self, message: _Post, raw: dict[str, Any]) -> _Post:
        """Return ``message`` with its :attr:`Message.forum_topic` set when it is inside a topic.

        Args:
            message: The post built from ``raw``.
            raw: Its Desktop message object.

        Returns:
            ``message`` itself when the chat has no topics or the post is in
            none, else a copy with ``forum_topic`` = ``{id, title}`` (the
            title as of this point of the file).
        """
        if not self.titles:
            return message
        topic = self._topic_of_reply(raw)
        if topic is None:
            return message
        self._of[message.message_id] = topic
        forum_topic = ForumTopic(id=topic, title=self.titles[topic])
        if isinstance(message, PostFields):  # plain values (the import's fast path): set in place
            message.forum_topic = forum_topic
            return message
        return message.model_copy(update={"forum_topic": forum_topic})

    def _topic_of_reply(self, raw: dict[str, Any]) -> int | None:
        if raw.get("reply_to_peer_id") is not None:  # a reply to another chat's message
            return None
        reply = raw.get("reply_to_message_id")
        return self._of.get(reply) if isinstance(reply, int) and not isinstance(reply, bool) else None
