"""Benchmark: topic quality of the offline default against plain TF-IDF + k-means at the same k, one run.

The twelve channels of ``../shared/data/nktkln`` (about 10,900 posts with
text) form one mixed channel; each post carries the coarse ``category`` an LLM
gave it in the source project (a rough ground truth, see
``shared/data/README.md``) and its source channel. ``build_topics`` (the
shipped default: LSA + navec word vectors, k by silhouette) groups the posts;
then the floor, a plain TF-IDF (scikit-learn ``TfidfVectorizer``,
``sublinear_tf``, ``min_df=2``, ``max_df=0.5``, the Russian and English stop
words) + ``KMeans`` (``n_init=4``, the same seed), is run at the same k. The
script prints, for both, the normalised mutual information (NMI, arithmetic
mean, scikit-learn ``normalized_mutual_info_score``) against the category and
against the source channel, the ratio of the NMIs against the category
(issue #12 asks ≥ 1.2), the chosen k, the wall time and peak RSS of
``build_topics``, and the largest topics with their labels.

Usage:
    .venv/bin/python bench/topic_quality.py [--data DIR] [--seed 42] [--labels 12]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "nktkln"


def _posts(data: Path) -> list[tuple[int, str, str, str]]:
    """``(message id, clean text, category, channel)`` of every post with text, ids made unique per file."""
    from telethon.extensions import markdown

    from tg_parser.processing.text import clean_text

    rows = []
    for n, path in enumerate(sorted(data.glob("*.json"))):
        for post in json.loads(path.read_text(encoding="utf-8")):
            text = clean_text(markdown.parse(post.get("text") or "")[0])
            if text:
                rows.append((n * 1_000_000 + int(post["message_id"]), text, str(post["category"]), path.stem))
    return sorted(rows)


def main() -> None:
    """Cluster the mixed channel both ways and print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DATA, help="nktkln-style JSON files (default: %(default)s)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--labels", type=int, default=12, help="topics whose labels are printed (largest first)")
    args = p.parse_args()
    if not args.data.is_dir():
        sys.exit(f"missing data directory {args.data}")
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import normalized_mutual_info_score
    from threadpoolctl import threadpool_limits

    from tg_parser.processing.stopwords import topic_stop_words
    from tg_parser.topics import TopicInput, build_topics
    from tg_parser.topics.vectorize import FEATURES_VERSION

    rows = _posts(args.data)
    category = [r[2] for r in rows]
    channel = [r[3] for r in rows]
    with threadpool_limits(limits=2):
        start = time.perf_counter()
        topics = build_topics([TopicInput(r[0], r[1]) for r in rows], channel_key="q", seed=args.seed)
        ours_s = time.perf_counter() - start
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assigned = {m: t.topic_id for t in topics for m in t.member_ids}
        ours = [assigned[r[0]] for r in rows]
        k = len(topics)
        start = time.perf_counter()
        tfidf = TfidfVectorizer(
            sublinear_tf=True, min_df=2, max_df=0.5, stop_words=sorted(topic_stop_words())
        ).fit_transform([r[1] for r in rows])
        floor = KMeans(n_clusters=max(k, 1), n_init=4, random_state=args.seed).fit_predict(tfidf).tolist()
        floor_s = time.perf_counter() - start
    nmi_ours = float(normalized_mutual_info_score(category, ours))
    nmi_floor = float(normalized_mutual_info_score(category, floor))
    print(f"posts {len(rows)}, channels {len(set(channel))}, categories {len(set(category))}")
    print(f"features {FEATURES_VERSION}")
    print(f"chosen k {k}")
    print(f"{'':28} {'NMI category':>13} {'NMI channel':>12} {'time s':>8}")
    print(
        f"{'tg_parser (offline default)':28} {nmi_ours:13.4f} "
        f"{normalized_mutual_info_score(channel, ours):12.4f} {ours_s:8.1f}"
    )
    print(
        f"{'TF-IDF + KMeans, same k':28} {nmi_floor:13.4f} "
        f"{normalized_mutual_info_score(channel, floor):12.4f} {floor_s:8.1f}"
    )
    print(f"ratio (NMI category, ours / TF-IDF + KMeans): {nmi_ours / max(nmi_floor, 1e-12):.3f}")
    print(f"peak RSS {rss_mb:.0f} MB")
    for topic in topics[: args.labels]:
        print(f"  {len(topic.member_ids):5}  {topic.label}  |  {', '.join(topic.keywords)}")


if __name__ == "__main__":
    main()
