"""Per-post processing: the processor protocol and its implementations."""

from tg_parser.processing.base import LLMUsage, ProcessingResult, Processor

__all__ = ["LLMUsage", "ProcessingResult", "Processor"]
