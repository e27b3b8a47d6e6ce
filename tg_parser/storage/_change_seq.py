"""The per-channel change counter (``channels.change_seq``); see :mod:`tg_parser.storage.changes`."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tg_parser.storage.tables import ChannelRow


def next_change_seq(session: Session, *, channel_pk: int) -> int:
    """Take the channel's next change value (locks the channel's row until the commit).

    Returns:
        The new value, greater than every value handed out before for this channel.
    """
    return int(
        session.execute(
            update(ChannelRow)
            .where(ChannelRow.id == channel_pk)
            .values(change_seq=ChannelRow.change_seq + 1)
            .returning(ChannelRow.change_seq)
        ).scalar_one()
    )


def current_change_seq(session: Session, *, channel_pk: int) -> int:
    """Return the channel's last committed change value (no lock): the upper bound of a delta read now."""
    return int(session.execute(select(ChannelRow.change_seq).where(ChannelRow.id == channel_pk)).scalar_one())
