"""Export writers: ``documents.ndjson`` and ``topics.json`` per channel."""

from tg_parser.export.writer import (
    ExportResult,
    atomic_writer,
    document_id,
    document_line,
    document_record,
    iso_utc,
    write_channel_export,
)

__all__ = [
    "ExportResult",
    "atomic_writer",
    "document_id",
    "document_line",
    "document_record",
    "iso_utc",
    "write_channel_export",
]
