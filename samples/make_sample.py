#!/usr/bin/env python3
# ruff: noqa: RUF001, N802, T201, CPY001
"""Build ``samples/sample_channel/result.json`` deterministically.

The sample is a *fictional* public channel written for tg_parser. Every post
text below was written by hand for this project; nothing is copied from a real
export. The output mimics a Telegram Desktop "Export chat history" JSON file
(single chat, new format with ``date_unixtime`` and ``text_entities``):

* ``date`` is the wall-clock time of the exporting machine without a time
  zone; the sample pretends it was exported in Moscow (UTC+3, no DST), so
  ``date`` == ``date_unixtime`` shifted by +3 h;
* ``text`` is a plain string when the post has no formatting, otherwise a
  list mixing plain strings and entity objects; ``text_entities`` lists every
  part, plain ones as ``{"type": "plain", ...}``;
* media are not included (the "File not included" placeholders Desktop writes
  when media download is switched off).

Usage::

    python samples/make_sample.py          # (re)write result.json and validate
    python samples/make_sample.py --check  # validate the committed file only

Standard library only. The script validates the result (parts concatenate to
the same text in ``text`` and ``text_entities``, ids unique and increasing,
dates consistent, feature minimums met) and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "sample_channel" / "result.json"

CHANNEL_NAME = "Tech & Science Digest / Техно-дайджест"
CHANNEL_ID = 1987654321
FROM_ID = f"channel{CHANNEL_ID}"
USERNAME = "techsci_digest"  # not part of a Desktop export; used in t.me links only
MSK = timezone(timedelta(hours=3), "MSK")
NOT_INCLUDED = "(File not included. Change data exporting settings to download.)"
ID_GAP_CHANCE = 0.15
RU_SHARE = 0.7
LONG_POST_CHARS = 1400
MAX_BMP = 0xFFFF

# ---------------------------------------------------------------------------
# Entity helpers: each returns a text part. Plain text is a bare ``str``.
# ---------------------------------------------------------------------------


Part = dict[str, Any]


def _e(kind: str, text: str, **extra: str | bool) -> Part:
    return {"type": kind, "text": text, **extra}


def B(t: str) -> Part:
    """Bold."""
    return _e("bold", t)


def I(t: str) -> Part:  # noqa: E743
    """Italic."""
    return _e("italic", t)


def U(t: str) -> Part:
    """Underline."""
    return _e("underline", t)


def S(t: str) -> Part:
    """Strikethrough."""
    return _e("strikethrough", t)


def C(t: str) -> Part:
    """Inline code."""
    return _e("code", t)


def PRE(t: str, lang: str = "") -> Part:
    """Code block; Desktop always writes ``language``, empty when unknown."""
    return _e("pre", t, language=lang)


def TL(t: str, href: str) -> Part:
    """Text link: visible text with a hidden URL."""
    return _e("text_link", t, href=href)


def URL(t: str) -> Part:
    """Auto-detected URL (``link``)."""
    return _e("link", t)


def HT(t: str) -> Part:
    """Hashtag."""
    return _e("hashtag", t)


def MN(t: str) -> Part:
    """@mention."""
    return _e("mention", t)


def EM(t: str) -> Part:
    """E-mail address."""
    return _e("email", t)


def PH(t: str) -> Part:
    """Phone number."""
    return _e("phone", t)


def CT(t: str) -> Part:
    """Cashtag."""
    return _e("cashtag", t)


def CMD(t: str) -> Part:
    """Bot command."""
    return _e("bot_command", t)


def BQ(t: str) -> Part:
    """Blockquote (new exports add ``collapsed``)."""
    return _e("blockquote", t, collapsed=False)


def SP(t: str) -> Part:
    """Spoiler."""
    return _e("spoiler", t)


def CE(t: str, doc_id: str) -> Part:
    """Premium custom emoji; ``document_id`` is a string in exports."""
    return _e("custom_emoji", t, document_id=doc_id)


# media helpers ---------------------------------------------------------------


def photo(w: int, h: int, size: int) -> dict[str, Any]:
    """Photo fields with media download switched off."""
    return {"photo": NOT_INCLUDED, "photo_file_size": size, "width": w, "height": h}


def document(name: str, size: int, mime: str) -> dict[str, Any]:
    """Plain document (no ``media_type``)."""
    return {"file": NOT_INCLUDED, "file_name": name, "file_size": size, "mime_type": mime}


def video(name: str, size: int, seconds: int, dims: tuple[int, int]) -> dict[str, Any]:
    """Video file."""
    return {
        "file": NOT_INCLUDED,
        "file_name": name,
        "file_size": size,
        "thumbnail": NOT_INCLUDED,
        "thumbnail_file_size": 18000,
        "media_type": "video_file",
        "mime_type": "video/mp4",
        "duration_seconds": seconds,
        "width": dims[0],
        "height": dims[1],
    }


def animation(name: str, size: int, seconds: int, dims: tuple[int, int]) -> dict[str, Any]:
    """GIF-style animation (an mp4 in Telegram)."""
    return {
        "file": NOT_INCLUDED,
        "file_name": name,
        "file_size": size,
        "thumbnail": NOT_INCLUDED,
        "thumbnail_file_size": 4200,
        "media_type": "animation",
        "mime_type": "video/mp4",
        "duration_seconds": seconds,
        "width": dims[0],
        "height": dims[1],
    }


def audio(name: str, size: int, seconds: int, performer: str, title: str) -> dict[str, Any]:
    """Audio file with ID3-like performer/title."""
    return {
        "file": NOT_INCLUDED,
        "file_name": name,
        "file_size": size,
        "media_type": "audio_file",
        "performer": performer,
        "title": title,
        "mime_type": "audio/mpeg",
        "duration_seconds": seconds,
    }


def poll(question: str, answers: list[tuple[str, int]], *, closed: bool = False) -> dict[str, Any]:
    """Poll media; the exporting account did not vote."""
    return {
        "poll": {
            "question": question,
            "closed": closed,
            "total_voters": sum(v for _, v in answers),
            "answers": [{"text": t, "voters": v, "chosen": False} for t, v in answers],
        }
    }


# ---------------------------------------------------------------------------
# The channel. Entries are in chronological order. ``when`` is Moscow time.
# ---------------------------------------------------------------------------

ENTRIES: list[dict[str, Any]] = []


def post(
    when: str,
    *parts: str | Part,
    key: str | None = None,
    edited: int | None = None,
    reply: str | None = None,
    fwd: tuple[str, str | None] | None = None,
    author: str | None = None,
    media: dict[str, Any] | None = None,
    react: list[tuple[str, int]] | None = None,
) -> None:
    """Add a channel post; ``edited`` is minutes after posting, ``reply`` a ``key``."""
    ENTRIES.append(
        {
            "kind": "post",
            "when": when,
            "parts": list(parts),
            "key": key,
            "edited": edited,
            "reply": reply,
            "fwd": fwd,
            "author": author,
            "media": media,
            "react": react,
        }
    )


def service(when: str, action: str, **extra: Any) -> None:
    """Add a service message (not a post)."""
    ENTRIES.append({"kind": "service", "when": when, "action": action, "extra": extra})


# Forward sources (fictional channels; some hide their id like a user with
# forward privacy, so only the name is exported).
F_SPACE = ("Космос для всех", "channel1702233445")
F_PYWEEKLY = ("PyDigest Weekly", "channel1588112233")
F_CITY = ("Городские заметки | Москва", "channel1811122334")
F_SECWIRE = ("Security Wire", "channel1655443322")
F_CLIMATE = ("Climate Brief", None)
F_AINOTES = ("AI Notes by Lena", None)

ANNA = "Анна Ковалёва"
MARK = "Mark Ellison"
DIMA = "Дмитрий Орлов"

service("2024-01-09 11:02", "create_channel", title="Техно-дайджест")
service("2024-01-09 11:04", "edit_group_photo", **photo(640, 640, 48211))

post(
    "2024-01-09 11:20",
    CE("👋", "5368324170671202286"),
    " ",
    B("Добро пожаловать в Техно-дайджест!"),
    "\n\nЗдесь коротко и по делу: программирование, космос, нейросети, городская среда Москвы, "
    "климат и энергетика, кибербезопасность и свежие научные статьи.\n\n",
    B("Welcome!"),
    " We post in Russian and English — whichever language the story broke in. Предложить новость: ",
    MN("@techsci_editor"),
    " или ",
    EM("tips@techsci-digest.example"),
    ".\n\nЕжедневная сводка в боте: ",
    CMD("/subscribe@techsci_digest_bot"),
    key="welcome",
    edited=38,
    author=ANNA,
)
service("2024-01-09 11:27", "pin_message", message_id="welcome")

post(
    "2024-01-10 09:41",
    "Copernicus подтвердил: 2023 год стал самым тёплым за всю историю инструментальных наблюдений. "
    "Средняя глобальная температура оказалась примерно на 1,48 °C выше доиндустриального уровня, "
    "а почти половина дней года превысила порог в полтора градуса.\n\n",
    HT("#климат"),
    " ",
    HT("#наука"),
    media=photo(1280, 720, 131022),
    react=[("😱", 41), ("👍", 17), ("🤔", 6)],
)

post(
    "2024-01-11 18:05",
    "Astrobotic's Peregrine lander will not reach the Moon after all. A propellant leak that started "
    "shortly after separation from the new Vulcan rocket ruled out a landing attempt, and the team now "
    "expects the spacecraft to burn up in Earth's atmosphere. ",
    HT("#space"),
)

post(
    "2024-01-12 12:30",
    "Маленький совет по Python: вместо ручного ",
    C("try/finally"),
    " вокруг открытого файла используйте менеджер контекста.\n",
    PRE('with open("data.csv", encoding="utf-8") as f:\n    rows = f.readlines()\n', "python"),
    "Файл закроется даже при исключении, а кодировку лучше указывать явно — на Windows по умолчанию "
    "она до сих пор не UTF-8. ",
    HT("#python"),
    " ",
    HT("#советы"),
    author=DIMA,
    react=[("👍", 64), ("🤓", 9)],
)

post(
    "2024-01-15 08:12",
    "Снегопад в Москве: за ночь выпало около трети месячной нормы осадков. Дептранс просит по возможности "
    "пересесть на метро и МЦД — на дорогах пробки до девяти баллов, наземный транспорт ходит с увеличенными "
    "интервалами. ",
    HT("#москва"),
    " ",
    HT("#транспорт"),
    media=photo(1080, 1350, 201455),
)

post(
    "2024-01-16 21:47",
    B("Patch now:"),
    " two chained zero-days in Ivanti Connect Secure VPN appliances (",
    C("CVE-2023-46805"),
    " and ",
    C("CVE-2024-21887"),
    ") are being exploited in the wild. Ivanti has published a mitigation while the real patches are "
    "being staged. If you run these boxes, also run the external integrity checker — the mitigation "
    "does not remove an existing compromise. ",
    HT("#security"),
    edited=95,
    react=[("😱", 12), ("👍", 8)],
)

post(
    "2024-01-17 10:03",
    "FDA одобрило Casgevy — первую терапию на основе CRISPR — ещё и для лечения бета-талассемии, "
    "зависимой от переливаний крови. В декабре препарат уже разрешили при серповидноклеточной анемии. "
    "Стоимость курса — около 2,2 млн долларов, и это пока главный вопрос к технологии. ",
    HT("#наука"),
    " ",
    HT("#медицина"),
    react=[("🔥", 33), ("👏", 14)],
)

post(
    "2024-01-20 07:55",
    "🇯🇵 ",
    B("Японский аппарат SLIM сел на Луну!"),
    " Япония стала пятой страной, совершившей мягкую посадку. Правда, солнечные панели не вырабатывают "
    "энергию: похоже, модуль лёг не той стороной. JAXA перевела его на батарею, чтобы успеть сохранить "
    "данные.",
    key="slim",
    media=photo(1600, 900, 187340),
    react=[("🔥", 58), ("👍", 21), ("😁", 5)],
)

post(
    "2024-01-20 19:40",
    "pandas 2.2.0 is out. Highlights: better support for the PyArrow-backed string dtype, a new ",
    C("Series.case_when()"),
    " method, and a long list of deprecations ahead of pandas 3.0 — the release "
    "where Copy-on-Write becomes the default. Run your test suite with warnings enabled now rather than "
    "later.\n\n",
    TL("Release notes", "https://pandas.pydata.org/docs/whatsnew/v2.2.0.html"),
    " · ",
    HT("#python"),
    edited=12,
    author=MARK,
)

post(
    "2024-01-22 13:15",
    "Исследователи всё чаще обсуждают «коллапс моделей»: если обучать нейросети на текстах, сгенерированных "
    "другими нейросетями, качество от поколения к поколению деградирует — редкие факты и стили исчезают "
    "первыми. "
    "Поэтому корпуса с «чистыми» человеческими данными дорожают. ",
    HT("#ИИ"),
)

post(
    "2024-01-25 22:10",
    B("Ingenuity's mission is over."),
    " NASA says at least one rotor blade of the Mars helicopter was "
    "damaged during its 72nd flight on January 18. It was designed for five test flights and flew 72 times "
    "over almost three years. Not bad for a tech demo 🚁",
    react=[("❤", 112), ("😢", 47), ("🫡", 19)],
)

post(
    "2024-01-26 11:00",
    "Ещё четыре автобусных маршрута на северо-востоке переводят на электробусы. Дизельные машины уйдут "
    "с линии до конца февраля, интервалы обещают сохранить. На конечных ставят ультрабыстрые зарядки — "
    "полный цикл занимает около 20 минут.",
    fwd=F_CITY,
)

post(
    "2024-01-29 16:20",
    "Global solar installations hit another record in 2023 — well over 400 GW by most estimates, with China "
    "alone accounting for more than half. Module prices fell by roughly 40% during the year, which is great "
    "for buyers and painful for manufacturers in Europe and the US. ",
    HT("#energy"),
)

post(
    "2024-01-30 09:05",
    "Elon Musk says Neuralink has implanted its brain-computer interface in a human patient for the first "
    'time and that the person is "recovering well". There is no peer-reviewed data yet and the details '
    "came from a post on X, so treat the claims with caution.",
)

post("2024-02-02 14:44", "", media=photo(1280, 853, 96514), react=[("❤", 24), ("🔥", 9)])

post(
    "2024-02-06 19:30",
    "Python 3.12.2 is out — the second maintenance release of 3.12, with a few hundred bug fixes, "
    "build improvements and documentation changes. Nothing dramatic, just upgrade when convenient.\n\n",
    TL("python.org/downloads", "https://www.python.org/downloads/release/python-3122/"),
    " ",
    HT("#python"),
    key="py3122",
    author=MARK,
)

post(
    "2024-02-07 10:12",
    "Снова волна фишинга «от имени» Госуслуг: письма сообщают о «подозрительном входе» и просят срочно "
    "перейти по ссылке. Настоящие уведомления никогда не требуют вводить пароль на сторонних сайтах. "
    "Проверяйте адрес отправителя и домен ссылки, а ещё лучше — включите второй фактор. ",
    HT("#безопасность"),
    edited=1440 + 55,
    react=[("👍", 38), ("🤬", 11)],
)

post(
    "2024-02-08 23:02",
    "NASA запустило спутник PACE: он будет изучать фитопланктон, аэрозоли и облака с полярной орбиты. "
    "Данные помогут лучше понять, сколько углерода поглощает океан и как пыль и дым влияют на облачность. ",
    HT("#космос"),
    " ",
    HT("#климат"),
)

post(
    "2024-02-09 08:30",
    "Погода против графика: из-за гололёда на МЦД-2 с утра сбой, поезда идут с интервалом до 15 минут. "
    "Пассажирам советуют пересаживаться на Рижскую линию метро.",
)

post(
    "2024-02-15 21:55",
    "Busy day in AI. Google announced ",
    B("Gemini 1.5 Pro"),
    " with a context window of up to ",
    U("one million tokens"),
    " in preview, and a few hours later OpenAI showed ",
    B("Sora"),
    ", a text-to-video model that generates clips up to a minute long. Sora is not publicly available yet — "
    "only red-teamers and a few selected artists have access. ",
    HT("#AI"),
    key="sora",
    react=[("🤯", 77), ("🔥", 31), ("🤔", 12)],
)

post(
    "2024-02-16 12:40",
    "Команда Astral, авторы линтера Ruff, выпустила ",
    B("uv"),
    " — установщик пакетов и менеджер виртуальных окружений для Python, написанный на Rust. "
    "Заявлен как замена ",
    C("pip"),
    " и ",
    C("pip-tools"),
    ", а в их тестах он быстрее в 10–100 раз.\n",
    PRE("pip install uv\nuv venv\nuv pip install -r requirements.txt", "bash"),
    HT("#python"),
    " ",
    HT("#инструменты"),
    edited=17,
    author=DIMA,
    react=[("🔥", 88), ("👍", 23), ("👨‍💻", 7)],
)

post(
    "2024-02-16 18:25",
    "Дополнение к вчерашнему посту про Sora: OpenAI опубликовала технический отчёт. Видео режется на "
    "«патчи» — пространственно-временные фрагменты, которые играют роль токенов, а сама модель — "
    "диффузионный трансформер. Про обучающие данные, как обычно, почти ничего.",
    reply="sora",
)

post(
    "2024-02-19 10:10",
    "В наземном транспорте начали тестировать оплату проезда по биометрии — пока на нескольких трамвайных "
    "маршрутах. В метро аналогичный сервис работает с 2021 года. ",
    I("Как вам идея — удобно или тревожно?"),
    " ",
    HT("#москва"),
)

post(
    "2024-02-20 12:02",
    B("Operation Cronos:"),
    " law enforcement from ten countries, led by the UK's National Crime Agency, "
    "has taken over LockBit's infrastructure, including its leak site — which now hosts press releases in "
    "the "
    "gang's own style. Decryption keys were recovered, and Japanese police released a recovery tool for "
    "victims. ",
    HT("#ransomware"),
    " ",
    HT("#security"),
    media=photo(1200, 675, 143882),
    react=[("👏", 96), ("🔥", 40), ("😁", 18)],
)

post(
    "2024-02-21 15:35",
    "Январь 2024-го стал самым тёплым январём в истории наблюдений — восьмой месяц подряд с рекордом, "
    "сообщает Copernicus. Средняя температура за последние 12 месяцев впервые превысила доиндустриальный "
    "уровень на 1,52 °C. Это ещё не «провал» Парижского соглашения — там речь о многолетнем среднем, — "
    "но тревожный сигнал. ",
    HT("#климат"),
)

post(
    "2024-02-23 02:30",
    B("Odysseus has landed."),
    " Intuitive Machines' IM-1 touched down near the Moon's south pole region — "
    "the first US soft landing since Apollo 17 in 1972 and the first ever by a private company. "
    "The lander may have tipped over, but it is sending data. ",
    HT("#space"),
    key="im1",
    react=[("🎉", 134), ("🔥", 52)],
)

post(
    "2024-02-26 17:00",
    "Mistral AI released ",
    B("Mistral Large"),
    ", its new flagship model, and announced a partnership "
    "with Microsoft to distribute it through Azure. Unlike the company's earlier models, the weights are ",
    I("not"),
    " open this time.",
    fwd=F_AINOTES,
)

post(
    "2024-02-27 09:20",
    "Обновление по Odysseus: аппарат действительно лежит на боку, и часть антенн смотрит в грунт. "
    "Тем не менее большинство приборов успели передать данные. С наступлением лунной ночи связь ожидаемо "
    "прекратится.",
    reply="im1",
    edited=240,
)

post(
    "2024-02-28 12:00",
    "",
    media=poll(
        "О чём писать чаще? / What should we post more about?",
        [
            ("Космос / Space", 412),
            ("ИИ и нейросети / AI", 388),
            ("Программирование / Programming", 297),
            ("Город и транспорт / City & transport", 121),
            ("Климат и энергетика / Climate & energy", 143),
        ],
    ),
)

post(
    "2024-02-29 10:29",
    "🗓 29 февраля — leap day. Без високосных лет календарь уезжал бы примерно на сутки каждые четыре года, "
    "and after roughly 700 years summer in the Northern Hemisphere would start in December. "
    "Григорианский календарь, кстати, ошибается всего на сутки за ~3000 лет.",
)

post(
    "2024-03-04 19:05",
    "Anthropic released the ",
    B("Claude 3"),
    " model family: Haiku, Sonnet and Opus. Opus beats GPT-4 on "
    "most "
    "of the reported benchmarks, and all three accept images as input. Sonnet now powers the free tier at ",
    URL("claude.ai"),
    ". ",
    HT("#AI"),
    react=[("👍", 45), ("🤔", 8)],
)

post(
    "2024-03-05 11:11",
    "Вышли Django 5.0.3 и 4.2.11 — исправлена уязвимость ",
    C("CVE-2024-27351"),
    " (ReDoS в ",
    C("Truncator.words()"),
    " при ",
    C("html=True"),
    "). Обновляйтесь, особенно если выводите обрезанный пользовательский HTML. ",
    HT("#python"),
    " ",
    HT("#django"),
)

post(
    "2024-03-05 18:45",
    B("Как защитить аккаунт Telegram"),
    "\n\n1. Включите облачный пароль: ",
    I("Настройки → Конфиденциальность → Облачный пароль"),
    ".\n2. Никогда не пересылайте код из SMS — "
    "даже «службе поддержки».\n3. Раз в месяц проверяйте активные сеансы.\n\n",
    HT("#безопасность"),
    " ",
    HT("#советы"),
    key="tg2fa",
    edited=22,
    author=ANNA,
    react=[("👍", 203), ("❤", 31), ("🙏", 12)],
)

post(
    "2024-03-06 13:00",
    "Tip: ",
    C("functools.cache"),
    " turns an exponential recursive function into a linear one.\n",
    PRE(
        "from functools import cache\n\n@cache\ndef fib(n: int) -> int:\n    return n if n < 2 else fib(n "
        "- 1) + fib(n - 2)\n\nprint(fib(200))\n",
        "python",
    ),
    "Without the decorator this would outlive the Sun. With it — microseconds. ",
    HT("#python"),
    " ",
    HT("#tips"),
    author=MARK,
    react=[("🤓", 27), ("👍", 19)],
)

post(
    "2024-03-07 20:18",
    "Microplastics in human arteries: researchers followed patients who had carotid artery surgery and "
    "found plastic particles in the removed plaque of more than half of them. Over the next ~3 years those "
    "patients had a higher risk of heart attack, stroke or death. That is an association, not proof of "
    "causation — but a worrying one. ",
    TL("NEJM", "https://www.nejm.org/doi/full/10.1056/NEJMoa2309822"),
    " ",
    HT("#science"),
)

post("2024-03-11 09:00", "", media=photo(960, 1280, 88310))

post(
    "2024-03-12 16:40",
    "Heat pump sales across Europe fell by about 5% in 2023 after years of double-digit growth, according "
    "to "
    "industry figures. High electricity prices and policy uncertainty — above all the long fight over "
    "Germany's heating law — are the usual suspects. ",
    HT("#energy"),
    " ",
    HT("#climate"),
)

post(
    "2024-03-13 14:20",
    B("Европарламент принял AI Act"),
    " — первый всеобъемлющий закон о регулировании ИИ. Системы делятся "
    "по уровням риска; социальный скоринг и распознавание эмоций на работе и в школах запрещаются, "
    "а для моделей общего назначения вводятся требования прозрачности. Основная часть норм заработает "
    "через два года. ",
    HT("#ИИ"),
    " ",
    HT("#регулирование"),
    key="aiact",
    edited=61,
    react=[("🤔", 54), ("👍", 33), ("🥱", 7)],
)

post(
    "2024-03-14 17:10",
    "Third time's the charm? Starship's third integrated flight test reached space, opened its payload door "
    "and tested a propellant transfer in orbit. Both stages were lost — the booster during its landing "
    "burn, "
    "the ship during re-entry over the Indian Ocean — but the flight went much further than the first two. ",
    HT("#space"),
    " ",
    HT("#starship"),
    key="ift3",
    media=video("starship_ift3_reentry.mp4", 14820331, 58, (1280, 720)),
    react=[("🔥", 151), ("🤯", 44), ("👏", 30)],
)

post(
    "2024-03-18 12:25",
    "Moscow's electric river trams will return once the ice clears — usually in the second half of April. "
    "The Kyivsky railway station — Fili route remains the busiest, and you pay with the same Troika card as "
    "in the metro. We'll post the season schedule as soon as it's out. ",
    HT("#moscow"),
)

post(
    "2024-03-20 10:50",
    "Three things stop most account takeovers: a password manager, a unique password everywhere, and a "
    "second factor that isn't SMS. Passkeys make all of that easier and are phishing-resistant by design — "
    "turn them on wherever they're offered. ",
    HT("#security"),
    reply="tg2fa",
)

post(
    "2024-03-21 22:05",
    "В Массачусетской больнице общего профиля впервые пересадили живому пациенту почку генетически "
    "модифицированной свиньи. У донорского животного отредактированы десятки генов, в том числе "
    "чтобы снизить риск отторжения. Операция длилась около четырёх часов, пациент идёт на поправку. ",
    HT("#наука"),
    " ",
    HT("#медицина"),
    edited=1440 * 2 + 130,
    react=[("🤯", 61), ("🔥", 28), ("🙏", 10)],
)

post(
    "2024-03-26 11:30",
    "Сезон городского велопроката в этом году обещают открыть раньше обычного — в первой половине апреля, "
    "если позволит погода. На карте появится ещё около сотни станций, а доля электровелосипедов вырастет. "
    "Тарифы пока не меняются. ",
    HT("#москва"),
    " ",
    HT("#велосипед"),
    fwd=F_CITY,
)

post(
    "2024-03-27 19:00",
    "Databricks open-sourced ",
    B("DBRX"),
    ", a mixture-of-experts LLM with 132B total and 36B active "
    "parameters. On the company's own benchmarks it beats Llama 2 70B and Mixtral. The weights are on "
    "Hugging Face under a custom licence that is open-ish rather than OSI-approved. ",
    HT("#AI"),
)

post(
    "2024-03-28 16:15",
    "PyPI temporarily suspended new user registrations and new project creation after a wave of "
    "typosquatting packages carrying an info-stealer. Registrations were back within about ten hours. "
    "Double-check package names before you ",
    C("pip install"),
    " anything unfamiliar. ",
    HT("#python"),
    " ",
    HT("#security"),
    fwd=F_PYWEEKLY,
)

post(
    "2024-03-30 01:40",
    B("Backdoor in xz/liblzma ("),
    C("CVE-2024-3094"),
    B(")"),
    "\n\nAndres Freund, a PostgreSQL developer, noticed that SSH logins on a Debian unstable machine were "
    "using too much CPU and were about half a second slower than usual. He traced it to malicious code in ",
    C("xz"),
    " versions ",
    C("5.6.0"),
    " and ",
    C("5.6.1"),
    " that hooks into ",
    C("sshd"),
    " through systemd's dependency on liblzma.\n\nCheck your version:\n",
    PRE("xz --version\n# xz (XZ Utils) 5.6.1   <- affected\n", "bash"),
    "Most stable distributions never shipped the affected releases; rolling and testing ones (Fedora "
    "Rawhide "
    "and the Fedora 40 beta, Debian testing/unstable, openSUSE Tumbleweed, Kali, Arch) did. Downgrade to "
    "5.4.x "
    "and follow your distribution's advisory.\n\n",
    BQ(
        "The attacker spent about two years earning the maintainer's trust before slipping the payload in. "
        "That is the scary part."
    ),
    "\n\n",
    HT("#security"),
    " ",
    HT("#linux"),
    " ",
    HT("#supplychain"),
    key="xz",
    edited=95,
    author=MARK,
    react=[("😱", 240), ("🤯", 188), ("👏", 64), ("🫡", 21)],
)

post(
    "2024-03-31 12:00",
    "Подробности по бэкдору в xz: вредоносный код прятался в «тестовых» бинарных файлах репозитория и "
    "подмешивался только при сборке deb- и rpm-пакетов. Целью была проверка ключей в OpenSSH — через "
    "подмену функции ",
    C("RSA_public_decrypt"),
    ". Атакующий под именем Jia Tan около двух лет «зарабатывал» доверие единственного мейнтейнера проекта.",
    reply="xz",
    edited=20,
    author=DIMA,
    react=[("🤯", 90), ("👍", 40)],
)
service("2024-03-31 12:05", "pin_message", message_id="xz")

post("2024-04-01 10:00", "", media=photo(1280, 960, 154002), react=[("😁", 33), ("🤡", 12)])

post(
    "2024-04-03 09:30",
    "Сезон велопроката открыт! 🚲 Первые полчаса по-прежнему бесплатны для владельцев годового абонемента. "
    "Не забудьте обновить приложение — старые версии не видят новые станции. ",
    HT("#москва"),
    " ",
    HT("#велосипед"),
)

post(
    "2024-04-05 15:45",
    "Paper of the week: bumblebees can learn a two-step puzzle from trained demonstrators — a task none of "
    "them solved on their own, even after weeks of trying. The authors argue this kind of social learning "
    "of "
    "behaviours too complex to invent individually was thought to be unique to humans. ",
    HT("#science"),
    " ",
    HT("#biology"),
)

post(
    "2024-04-08 18:30",
    "☀️🌑 Сегодня полное солнечное затмение в Северной Америке: полоса полной фазы проходит через Мексику, "
    "США и Канаду. Максимальная длительность полной фазы — ",
    S("5 минут"),
    " 4 минуты 28 секунд (спасибо читателям за поправку). Смотреть: ",
    TL("трансляция NASA", "https://science.nasa.gov/eclipses/future-eclipses/eclipse-2024/"),
    ". ",
    HT("#космос"),
    key="eclipse",
    edited=47,
    media=photo(2048, 1365, 402118),
    react=[("🔥", 199), ("❤", 74), ("🤩", 23)],
)

post(
    "2024-04-09 11:20",
    "A few numbers after yesterday's eclipse: about 32 million people lived inside the path of totality, "
    "and the next total solar eclipse visible from the contiguous US will not happen until 2044.",
    reply="eclipse",
    media=photo(1600, 1067, 236540),
)

post(
    "2024-04-10 14:00",
    "3.12.3 is out as well — same drill: bug fixes, security fixes in bundled libraries, upgrade when "
    "convenient. ",
    HT("#python"),
    reply="py3122",
)

post(
    "2024-04-12 12:00",
    "12 апреля — День космонавтики. 63 года назад Юрий Гагарин совершил первый полёт в космос: 108 минут, "
    "один виток вокруг Земли. ",
    B("Поехали!"),
    " 🚀 ",
    HT("#космос"),
    react=[("❤", 310), ("🔥", 96), ("🕊", 40)],
)

post(
    "2024-04-15 20:20",
    "Критическая уязвимость в межсетевых экранах Palo Alto Networks (",
    C("CVE-2024-3400"),
    ", CVSS 10.0) уже эксплуатируется. Затронуты PAN-OS 10.2, 11.0 и 11.1 с включённым GlobalProtect. "
    "Исправления вышли — обновляйтесь и проверяйте журналы на признаки компрометации. ",
    HT("#безопасность"),
    fwd=F_SECWIRE,
)

post(
    "2024-04-16 10:40",
    "NOAA объявило о четвёртом глобальном массовом обесцвечивании кораллов — втором за последние десять "
    "лет. Пострадали рифы как минимум в 53 странах и территориях. Причина — аномально тёплая вода, которая "
    "держится месяцами. ",
    HT("#климат"),
    " ",
    HT("#океан"),
    media=photo(1280, 853, 170221),
    react=[("😢", 87), ("💔", 22)],
)

post(
    "2024-04-17 19:15",
    "The UAE recorded its heaviest rainfall in 75 years: more than 250 mm fell in parts of the country in "
    "under 24 hours, flooding Dubai's streets and one of the world's busiest airports. Many scientists "
    "caution "
    "against blaming cloud seeding — a warmer atmosphere simply holds more water. ",
    HT("#climate"),
    edited=33,
    media=photo(1200, 800, 119876),
)

post(
    "2024-04-18 22:40",
    "Meta released ",
    B("Llama 3"),
    " in 8B and 70B sizes, trained on about 15 trillion tokens. The 70B "
    "model is competitive with Claude 3 Sonnet and Gemini 1.5 Pro on several benchmarks, and a 400B+ "
    "version "
    "is still training. Weights are downloadable under Meta's community licence. ",
    HT("#AI"),
    " ",
    HT("#opensource"),
    key="llama3",
    edited=8,
    react=[("🔥", 140), ("👍", 58), ("🐳", 9)],
)

post(
    "2024-04-19 13:05",
    "Попробовали Llama 3 8B локально: с 4-битной квантизацией модель помещается примерно в 6 ГБ видеопамяти "
    "и вполне бодро отвечает по-русски, хотя иногда съезжает на английский посреди фразы. Запуск — одной "
    "командой: ",
    C("ollama run llama3"),
    ".",
    reply="llama3",
    author=DIMA,
    react=[("👍", 74), ("👨‍💻", 15)],
)

post(
    "2024-04-22 23:15",
    B("Voyager 1 is talking sense again!"),
    " After five months of gibberish, engineers moved the affected "
    "code away from a failed memory chip, and the probe is once again sending usable engineering data. "
    "Science data is next. Radio round trip: about 45 hours. ",
    HT("#space"),
    react=[("❤", 256), ("🎉", 90), ("🥰", 31)],
)

post(
    "2024-04-24 08:50",
    "Phi-3-mini от Microsoft: 3,8 млрд параметров, а по заявлениям авторов — уровень Mixtral 8x7B и GPT-3.5 "
    "на ряде тестов. Квантизованная версия запускается прямо на смартфоне. Секрет, как обычно, в тщательно "
    "отфильтрованных и синтетических данных. ",
    HT("#ИИ"),
)

post(
    "2024-04-25 16:30",
    "Moscow's river electric trams are back for the season: from this weekend the boats run every "
    "20–30 minutes on the main routes, and night trips on Fridays return in May. ",
    HT("#moscow"),
    " ",
    HT("#transport"),
    media=photo(1280, 720, 111904),
)

post(
    "2024-04-26 12:10",
    "H5N1 bird flu in US dairy cows: the FDA found viral fragments in roughly one in five retail milk "
    "samples. "
    "Pasteurization is expected to inactivate the virus, and tests for live virus have so far come back "
    "negative. Raw milk is another story. ",
    HT("#science"),
    " ",
    HT("#health"),
)

post(
    "2024-04-29 10:00",
    "📚 ",
    B("Дайджест недели"),
    "\n\n• ",
    TL("Как устроен JIT в CPython 3.13", "https://peps.python.org/pep-0744/"),
    "\n• ",
    TL("Почему тёплый океан «ломает» рифы", "https://coralreefwatch.noaa.gov/"),
    "\n• ",
    TL("Что внутри Llama 3", "https://ai.meta.com/blog/meta-llama-3/"),
    "\n• ",
    TL("Разбор бэкдора в xz", "https://research.swtch.com/xz-timeline"),
    "\n\nХорошей недели! ",
    CE("☕️", "5379748062124056162"),
    author=ANNA,
    react=[("👍", 66), ("❤", 18)],
)

post(
    "2024-05-03 14:50",
    "Китай запустил миссию «Чанъэ-6» — она должна впервые в истории доставить на Землю грунт с обратной "
    "стороны Луны. Посадка запланирована в бассейне Аполлон внутри гигантского кратера Южный полюс — "
    "Эйткен. "
    "Связь будет идти через спутник-ретранслятор «Цюэцяо-2». ",
    HT("#космос"),
    key="change6",
    media=photo(1280, 720, 140377),
)

post(
    "2024-05-06 10:15",
    "Погода: в выходные в Москве ожидается до +22, а уже к среде — мокрый снег. ",
    I("Весна в средней полосе, классика."),
    " Велопрокат и электросуда будут работать в штатном режиме. ",
    HT("#москва"),
)

post(
    "2024-05-08 21:00",
    "🐍 ",
    B("Python 3.13.0b1: что важного в первой бете"),
    "\n\nВышла первая бета Python 3.13, а значит, набор возможностей заморожен — дальше только исправления. "
    "Финальный релиз ожидается в октябре. Коротко о главном.\n\n",
    B("1. Режим без GIL."),
    " Появилась экспериментальная сборка с отключённой глобальной блокировкой "
    "интерпретатора (PEP 703). Она ставится отдельным бинарником ",
    C("python3.13t"),
    " и позволяет потокам по-настоящему параллельно выполнять Python-код на нескольких ядрах. "
    "Однопоточный код в этом режиме пока медленнее, а многие расширения на C ещё не готовы.\n\n",
    B("2. JIT-компилятор."),
    " Экспериментальный copy-and-patch JIT (PEP 744) по умолчанию выключен и "
    "включается флагом сборки. Прироста скорости пока почти нет — это фундамент для будущих версий.\n\n",
    B("3. Новый интерактивный интерпретатор."),
    " Многострочное редактирование, подсветка, история, команды ",
    C("exit"),
    " и ",
    C("help"),
    " без скобок — REPL наконец-то приятно использовать.\n\n",
    B("4. Уборка."),
    " Удалены «мёртвые батарейки» из PEP 594: ",
    C("cgi"),
    ", ",
    C("telnetlib"),
    ", ",
    C("nntplib"),
    " и ещё полтора десятка модулей. Если что-то из этого у вас в зависимостях — самое время "
    "искать замену.\n\n",
    B("5. Прочее."),
    " Уточнена семантика ",
    C("locals()"),
    " (PEP 667), появились официальные сборки для "
    "iOS "
    "и Android на уровне tier 3, а сообщения об ошибках стали ещё подробнее.\n\n",
    "Проверить свой проект проще всего так:\n",
    PRE("uv python install 3.13\nuv run --python 3.13 pytest\n", "bash"),
    "Нашли регрессию — заведите issue, пока идут беты: чем раньше о ней узнают core-разработчики, тем "
    "выше шанс, что её исправят до rc1. ",
    HT("#python"),
    " ",
    HT("#релизы"),
    key="py313",
    edited=180,
    author=DIMA,
    react=[("🔥", 207), ("👍", 96), ("🤓", 25), ("👨‍💻", 18)],
)

post(
    "2024-05-09 15:30",
    "Tried the free-threaded build of 3.13.0b1 with a toy CPU-bound benchmark: with four threads, ",
    C("python3.13t"),
    " finished about 3.6× faster than the regular build, while the single-threaded run "
    "was "
    "roughly 10% slower. Many C extensions still re-enable the GIL on import, so real projects will take a "
    "while.",
    reply="py313",
    author=MARK,
    media=document("bench_threads.py", 2114, "text/x-python"),
)

post(
    "2024-05-11 02:15",
    "The strongest geomagnetic storm since 2003 (G5) painted the sky far outside the usual aurora zones — "
    "sightings came in from southern Europe, Mexico and northern India. В Подмосковье сияние тоже было "
    "видно! 🌌 "
    "Присылайте фото: ",
    MN("@techsci_editor"),
    key="aurora",
    media=photo(1280, 853, 211345),
    react=[("🤩", 302), ("❤", 160), ("🔥", 77)],
)
post("2024-05-11 02:15", "", media=photo(1280, 960, 198210))
post("2024-05-11 02:15", "", media=photo(853, 1280, 176033))

post(
    "2024-05-13 21:40",
    "OpenAI announced ",
    B("GPT-4o"),
    ' ("o" for "omni"): a single model natively handling text, audio and '
    "images, answering by voice in about 320 ms on average. It's rolling out to free ChatGPT users too, "
    "with "
    "lower rate limits. ",
    HT("#AI"),
    key="gpt4o",
    react=[("🔥", 180), ("🤯", 94), ("🤔", 20)],
)

post(
    "2024-05-14 22:30",
    "На следующий день Google ответила на конференции I/O: Gemini 1.5 Flash, окно контекста в 2 млн токенов "
    "для Pro и Project Astra — ассистент, который «видит» мир через камеру телефона. Гонка голосовых "
    "ассистентов началась всерьёз. ",
    HT("#ИИ"),
    reply="gpt4o",
    edited=14,
)

post(
    "2024-05-15 09:10",
    "Ember's Global Electricity Review: renewables produced 30% of the world's electricity in 2023, a new "
    "record, driven mostly by solar. If growth continues, emissions from the power sector could start "
    "falling as soon as this year. ",
    HT("#energy"),
    " ",
    HT("#climate"),
    fwd=F_CLIMATE,
)

post(
    "2024-05-16 18:00",
    "Публикуем запись нашего эфира с разработчиками из сообщества Moscow Python: говорили о типизации, uv и "
    "о том, стоит ли уже переходить на 3.12. ",
    HT("#python"),
    " ",
    HT("#подкаст"),
    media=audio("techsci_podcast_ep07.mp3", 52318044, 3268, "Техно-дайджест", "Эпизод 7: Python в 2024"),
    author=ANNA,
)

post(
    "2024-05-17 11:45",
    "Биологи описали, как осьминоги и рыбы охотятся вместе: осьминог «решает», куда двигаться группе, а "
    "рыбы "
    "ищут добычу. Если рыба ленится, осьминог может её… стукнуть щупальцем. ",
    SP("Такова цена сотрудничества."),
    " ",
    HT("#наука"),
    " ",
    HT("#биология"),
    react=[("😁", 140), ("🐳", 35)],
)

post(
    "2024-05-20 13:20",
    "Дептранс напоминает: с 25 мая по 2 июня участок Филёвской линии между «Кунцевской» и «Пионерской» "
    "закрыт на ремонт. Работают компенсационные автобусы КМ, бесплатная пересадка — по «Тройке». "
    "Справочная: ",
    PH("+7 495 000-12-34"),
    ". ",
    HT("#москва"),
    " ",
    HT("#метро"),
    edited=1440 + 20,
)

post(
    "2024-05-21 08:25",
    "Security tip of the week ",
    CE("🔐", "5472308992514464048"),
    " — check whether your e-mail appeared in a known breach at ",
    URL("https://haveibeenpwned.com"),
    " and rotate any password that was reused elsewhere. It takes five minutes. ",
    HT("#security"),
)

post(
    "2024-05-22 19:00",
    "Nvidia (",
    CT("$NVDA"),
    ") reported quarterly revenue of $26 billion, up 262% year-on-year, with data "
    "centre sales making up the bulk. The stock is up more than 90% since January. Whatever you think of "
    "the "
    "AI hype, someone is definitely selling the shovels. ",
    HT("#AI"),
    " ",
    HT("#markets"),
)

post(
    "2024-05-24 12:00",
    "",
    media=animation("friday_deploy.mp4", 388120, 4, (480, 270)),
    react=[("😁", 201), ("🤣", 88)],
)

post(
    "2024-05-27 10:10",
    "Приглашаем на открытую лекцию «Как читать научные статьи и не сойти с ума» — 4 июня в 19:00, "
    "библиотека им. Некрасова. Вход свободный по регистрации: ",
    TL("форма", "https://forms.example.org/techsci-lecture"),
    ". Вопросы — на ",
    EM("events@techsci-digest.example"),
    ".",
    key="lecture",
    author=ANNA,
)

post(
    "2024-05-28 17:35",
    "Copernicus: май 2024 стал двенадцатым месяцем подряд с рекордно высокой температурой для своего "
    "календарного месяца. Серия началась в июне прошлого года. Ла-Нинья, вероятно, немного охладит "
    "вторую половину года, но тренд это не отменяет. ",
    HT("#климат"),
)

post(
    "2024-05-30 20:45",
    "Microsoft's Recall feature for Copilot+ PCs takes a screenshot every few seconds and makes it "
    "searchable. "
    "Researchers quickly showed that the database is stored in plain SQLite under the user's profile — any "
    "infostealer can grab it. Expect changes before the launch. ",
    HT("#security"),
    " ",
    HT("#privacy"),
    fwd=F_SECWIRE,
    react=[("🤡", 66), ("😱", 31)],
)

post(
    "2024-06-02 04:20",
    "Chang'e-6 has landed on the far side of the Moon in the Apollo basin. Sample collection — both a drill "
    "and a scoop — should take about two days before the ascender lifts off to meet the orbiter. ",
    HT("#space"),
    reply="change6",
)

post(
    "2024-06-03 12:30",
    "Напоминаем: лекция уже завтра! Мест осталось немного. Трансляцию не планируем, но запись выложим в "
    "канал.",
    reply="lecture",
)

post(
    "2024-06-05 18:10",
    "Boeing's Starliner finally launched with astronauts on board: Butch Wilmore and Suni Williams are "
    "heading to the ISS on the spacecraft's first crewed flight test. Docking is expected tomorrow. "
    "Engineers are watching several small helium leaks detected in flight. ",
    HT("#space"),
    key="starliner",
    edited=300,
)

post(
    "2024-06-06 20:05",
    "Четвёртый испытательный полёт Starship: впервые и ускоритель, и корабль выполнили контролируемое "
    "приводнение. Ускоритель «сел» в Мексиканском заливе, корабль — в Индийском океане, несмотря на "
    "прогоревший закрылок, который снимали бортовые камеры в прямом эфире. ",
    HT("#космос"),
    " ",
    HT("#starship"),
    reply="ift3",
    media=video("starship_ift4_splashdown.mp4", 22104877, 74, (1920, 1080)),
    react=[("🔥", 260), ("🤯", 120), ("👏", 70)],
)

post(
    "2024-06-07 11:00",
    "Starliner docked with the ISS after a delay: five of its 28 manoeuvring thrusters dropped out during "
    "the approach, and four were recovered. Return date is TBD.",
    reply="starliner",
)

post(
    "2024-06-10 22:10",
    "WWDC: Apple announced ",
    B("Apple Intelligence"),
    ' — on-device models plus a "Private Cloud Compute" '
    "for "
    "heavier requests, and optional ChatGPT integration in Siri. It only runs on iPhone 15 Pro and "
    "Macs/iPads "
    "with M-series chips. ",
    HT("#AI"),
    " ",
    HT("#apple"),
)

post(
    "2024-06-11 09:35",
    "В Москве стартовал пилот умных светофоров на Варшавском шоссе: длина зелёной фазы подстраивается под "
    "поток в реальном времени. Первые результаты обещают через три месяца. ",
    HT("#москва"),
    " ",
    HT("#транспорт"),
    fwd=F_CITY,
)

post(
    "2024-06-13 16:20",
    "What's the most surprising number from this year's climate reports? Our pick: in 2023 the world added "
    "about as much solar capacity as all the capacity that existed before 2018 combined. ",
    I("Exponential curves are hard to intuit."),
    " ",
    HT("#energy"),
)

post(
    "2024-06-14 10:00",
    "📄 Свежий обзор «Python в научных вычислениях» от наших коллег — 48 страниц, от NumPy до JAX. "
    "Делимся PDF с разрешения авторов.",
    media=document("python_scientific_computing_2024.pdf", 3188120, "application/pdf"),
    author=DIMA,
    react=[("🔥", 72), ("🙏", 30)],
)

post(
    "2024-06-17 12:15",
    "Вышел ",
    B("NumPy 2.0"),
    " — первый мажорный релиз с 2006 года. Меняется ABI, поэтому расширения нужно "
    "пересобирать; из основного пространства имён убрали устаревшие алиасы; новые правила приведения типов "
    "(NEP 50) могут поменять результат смешанных вычислений. Найти проблемные места поможет правило ",
    C("NPY201"),
    " в Ruff.\n",
    PRE("ruff check --select NPY201 .\n", "bash"),
    HT("#python"),
    " ",
    HT("#numpy"),
    edited=25,
    react=[("🎉", 110), ("😱", 20)],
)

post(
    "2024-06-19 08:40",
    "Nvidia briefly became the world's most valuable company, overtaking Microsoft (",
    CT("$MSFT"),
    ") and Apple (",
    CT("$AAPL"),
    ") with a market cap above $3.3 trillion. ",
    HT("#markets"),
)

post(
    "2024-06-20 19:30",
    "Anthropic released ",
    B("Claude 3.5 Sonnet"),
    ": faster and cheaper than Claude 3 Opus and, on most of "
    'the company\'s evals, better. New "Artifacts" let the model render code, documents and small apps '
    "next "
    "to the chat. ",
    HT("#AI"),
    react=[("🔥", 98), ("👍", 40)],
)

post(
    "2024-06-21 14:00",
    "Ещё немного про Claude 3.5 Sonnet: в бенчмарке SWE-bench Verified модель решает около трети задач — "
    "реальных issue из Python-репозиториев. Год назад таких результатов не было ни у кого. ",
    HT("#ИИ"),
    fwd=F_AINOTES,
)

post(
    "2024-06-24 11:25",
    "Городская летняя программа: в парках по выходным — бесплатные научно-популярные лекции и телескопы "
    "для наблюдения Солнца (с фильтрами!). Расписание — на сайте парков. ",
    HT("#москва"),
    " ",
    HT("#наука"),
)

post(
    "2024-06-25 16:50",
    "«Чанъэ-6» вернулась: капсула с грунтом с обратной стороны Луны приземлилась во Внутренней Монголии. "
    "По предварительным данным, на Землю доставлено около двух килограммов образцов. ",
    HT("#космос"),
    reply="change6",
    react=[("🔥", 143), ("👏", 44)],
)

post(
    "2024-06-27 13:05",
    "Test your intuition: a 1 GW solar farm in central Europe produces roughly how many TWh per year? ",
    SP("About 1–1.1 TWh: the capacity factor there is only ~11–13%."),
    " ",
    HT("#energy"),
    " ",
    HT("#quiz"),
)

post(
    "2024-07-01 17:20",
    B("regreSSHion"),
    " (",
    C("CVE-2024-6387"),
    ") — удалённое выполнение кода в OpenSSH. Это состояние гонки в обработчике сигнала ",
    C("SIGALRM"),
    ", дающее root на Linux-системах с glibc. Уязвимы версии с "
    "8.5p1 по "
    "9.7p1, исправлено в 9.8p1. Эксплуатация сложная (часы попыток), но обновиться нужно.\n\nВременная "
    "мера, "
    "если обновиться сразу нельзя:\n",
    PRE("# /etc/ssh/sshd_config\nLoginGraceTime 0\n", ""),
    "Цена — риск DoS за счёт исчерпания слотов подключений. ",
    HT("#безопасность"),
    " ",
    HT("#linux"),
    key="regresshion",
    edited=42,
    author=MARK,
    react=[("😱", 133), ("👍", 70)],
)

post(
    "2024-07-02 12:40",
    "Polars 1.0 is out! After four years the DataFrame library declares its API stable. If you still do ",
    C("df.apply(lambda ...)"),
    " on millions of rows in pandas, give the lazy API a try. ",
    HT("#python"),
    " ",
    HT("#dataengineering"),
    fwd=F_PYWEEKLY,
    react=[("🔥", 64), ("🐳", 6)],
)

post(
    "2024-07-03 09:15",
    "Не путать с ",
    S("regreSSHion"),
    ": в OpenSSH 9.8 также исправлена отдельная логическая ошибка в ",
    C("ObscureKeystrokeTiming"),
    ". Это не RCE, но обновиться стоит в любом случае.",
    reply="regresshion",
)

post(
    "2024-07-05 15:00",
    "Жара в Москве: на выходных до +33, объявлен «оранжевый» уровень погодной опасности. В метро и на МЦД "
    "кондиционеры есть во всех новых составах; на станциях раздают воду. Берегите себя и пейте больше. ",
    HT("#москва"),
    media=photo(1280, 853, 158223),
    react=[("😨", 15), ("👍", 22)],
)

post(
    "2024-07-08 10:30",
    "In the first half of 2024, wind and solar generated more electricity in the EU than fossil fuels for "
    "the first time over a six-month period — about 30% versus 27%, according to Ember. Coal's share fell "
    "to a record low. ",
    HT("#energy"),
    " ",
    HT("#climate"),
    edited=15,
    react=[("👏", 77), ("🔥", 30)],
)

post(
    "2024-07-10 18:00",
    "Исследование: городские деревья снижают температуру поверхности улиц в жаркий день в среднем на "
    "12 градусов по сравнению с открытым асфальтом. Особенно хорошо работают взрослые деревья с широкой "
    "кроной. ",
    HT("#климат"),
    " ",
    HT("#город"),
)

post(
    "2024-07-12 11:10",
    "Collab announcement: together with ",
    MN("@spacenews_ru"),
    " we're running a week of posts about the upcoming Mars missions. Send your questions to ",
    EM("mars@techsci-digest.example"),
    " or call our hotline ",
    PH("+1-202-555-0147"),
    " and leave a voicemail.",
    author=MARK,
)

post(
    "2024-07-15 13:30",
    "Первый пост «марсианской недели»: почему марсианские миссии запускают раз в 26 месяцев. Орбиты Земли и "
    "Марса выстраиваются удобно для перелёта только в так называемое окно Хоманна — следующее откроется "
    "осенью "
    "2026 года. ",
    HT("#космос"),
    " ",
    HT("#марс"),
)

post(
    "2024-07-16 17:45",
    "Mars week, part 2: how do you land a tonne on Mars? Parachutes alone don't work in air that thin, so "
    'Curiosity and Perseverance used a rocket-powered "sky crane" that lowered the rover on cables. ',
    I("Seven minutes of terror"),
    " is not an exaggeration. ",
    HT("#space"),
    " ",
    HT("#mars"),
    media=photo(1600, 900, 175402),
)

post(
    "2024-07-17 12:20",
    "Марсианская неделя, часть 3: ",
    B("вода на Марсе"),
    ". Сейсмические данные InSight указывают на "
    "возможные "
    "запасы жидкой воды на глубине 11–20 км в коре. Добраться до неё, правда, пока нечем. ",
    HT("#космос"),
    author=ANNA,
)

post(
    "2024-07-19 09:55",
    B("Global IT outage:"),
    " a faulty content update for the CrowdStrike Falcon sensor is crashing Windows "
    "machines worldwide with blue screens — airlines, banks, hospitals and broadcasters are affected. "
    "This is not a cyberattack. Workaround: boot into Safe Mode and delete ",
    C("C-00000291*.sys"),
    " from ",
    C("%WINDIR%\\System32\\drivers\\CrowdStrike"),
    ". ",
    HT("#security"),
    " ",
    HT("#outage"),
    key="crowdstrike",
    edited=70,
    react=[("🤯", 420), ("😱", 201), ("🤡", 90), ("🔥", 33)],
)

post(
    "2024-07-20 14:30",
    "Microsoft оценивает число затронутых сбоем CrowdStrike устройств примерно в 8,5 млн — меньше 1% всех "
    "Windows-машин. Но это были как раз критичные системы: кассы, табло, регистрационные стойки. "
    "Хороший повод ещё раз обсудить поэтапные выкатки обновлений. ",
    HT("#безопасность"),
    reply="crowdstrike",
    react=[("🤔", 88), ("👍", 40)],
)
service("2024-07-20 14:31", "pin_message", message_id="crowdstrike")

post(
    "2024-07-22 10:00",
    "Марсианская неделя, финал: отвечаем на ваши вопросы. Самый популярный — «когда люди полетят на Марс?». "
    "Честный ответ: не раньше 2030-х, и главная проблема не ракета, а радиация и жизнеобеспечение в пути "
    "длиной полгода. ",
    HT("#космос"),
    " ",
    HT("#марс"),
    edited=35,
    author=ANNA,
)

service("2024-07-23 09:00", "edit_group_title", title=CHANNEL_NAME)

post(
    "2024-07-23 09:05",
    CE("✨", "5431449001532594346"),
    " Мы переименовались: теперь канал называется ",
    B(CHANNEL_NAME),
    ". Same content, both languages, as before. Архив постов: ",
    URL(f"https://t.me/{USERNAME}"),
    ".",
    author=ANNA,
    react=[("❤", 150), ("👍", 60)],
)

post(
    "2024-07-24 12:00",
    '𝐐𝐮𝐢𝐜𝐤 𝐍𝐨𝐭𝐞 — fancy Unicode letters like these are outside the BMP, so one "letter" is two UTF-16 '
    "code units. Telegram entity offsets count UTF-16 units, which is why naive parsers break on posts "
    "like this one: ",
    C("len('𝐐') == 1"),
    " in Python, but it's 2 for Telegram. ",
    HT("#unicode"),
    " ",
    HT("#python"),
    author=MARK,
    react=[("🤓", 55)],
)

post(
    "2024-07-25 17:30",
    "Прощаемся до августа: редакция уходит в короткий отпуск. Бот продолжит присылать ежедневную сводку — "
    "команда ",
    CMD("/digest"),
    " покажет последние посты, ",
    CMD("/unsubscribe"),
    " отключит рассылку.",
    reply="welcome",
    author=ANNA,
    react=[("❤", 98), ("🕊", 10)],
)

# --- more posts (merged into the timeline by date when building) -------------

post(
    "2024-01-18 15:20",
    "ORM tip: if a Django template loops over ",
    C("book.author.name"),
    ", you're probably firing one query per row. ",
    C('select_related("author")'),
    " turns those N+1 queries into a single JOIN; for many-to-many relations use ",
    C("prefetch_related"),
    " instead. ",
    HT("#python"),
    " ",
    HT("#django"),
    author=MARK,
    react=[("👍", 31)],
)

post(
    "2024-01-31 19:00",
    B("Итоги января / January wrap-up"),
    "\n\n",
    "Самое читаемое за месяц — история японского SLIM, который сел на Луну «вверх ногами». "
    "Most discussed in English: the end of Ingenuity's mission. Спасибо, что вы с нами — thanks for "
    "reading!",
    author=ANNA,
)

post(
    "2024-02-12 10:05",
    "Московское метро / Moscow Metro: на Кольцевой линии запустили тематический поезд «Наука». "
    "Inside, each car is devoted to one field — physics, biology, astronomy and more. "
    "Хороший повод прокатиться с детьми. ",
    HT("#москва"),
    " ",
    HT("#наука"),
    media=photo(1280, 853, 167730),
)

post(
    "2024-02-26 09:45",
    "SLIM пережил лунную ночь! Аппарат не проектировали для таких температур, но он вышел на связь и "
    "передал новые снимки. JAXA снова переводит его в спящий режим до следующего лунного дня.",
    reply="slim",
    react=[("😍", 84), ("🔥", 20)],
)

post(
    "2024-03-01 12:35",
    "Europe just had its warmest winter on record, Copernicus says — about 1.4 °C above the 1991–2020 "
    "average. Ski resorts in the Alps and the Pyrenees had a rough season, and several closed early. ",
    HT("#climate"),
)

post(
    "2024-04-04 18:20",
    "Совет недели: зайдите в настройки домашнего роутера. Смените заводской пароль администратора, "
    "выключите WPS и удалённое управление, проверьте обновления прошивки. Старые роутеры без обновлений "
    "— любимая цель ботнетов. ",
    HT("#безопасность"),
    " ",
    HT("#советы"),
    author=DIMA,
)

post(
    "2024-04-30 12:50",
    "📖 Термин недели / term of the week: ",
    B("RAG"),
    " (retrieval-augmented generation). Сначала система "
    "ищет релевантные документы в базе, then the language model answers using them as context. "
    "Так меньше галлюцинаций и можно ссылаться на источники. ",
    HT("#ИИ"),
    " ",
    HT("#AI"),
    react=[("👍", 57), ("🤓", 11)],
)

post(
    "2024-05-29 14:10",
    "Scientists from Harvard and Google mapped one cubic millimetre of human cortex at synapse resolution: "
    "about 57,000 cells, 150 million synapses and 1.4 petabytes of data from a tiny piece of tissue. "
    "A whole human brain would be a million times more. ",
    HT("#science"),
    " ",
    HT("#neuroscience"),
    media=photo(1920, 1080, 390114),
    react=[("🤯", 123), ("🔥", 41)],
)

post(
    "2024-05-31 10:30",
    "Tip for visitors: Moscow's MCD lines are suburban trains that cross the city like metro lines. Within "
    "the city a ride costs the same as the metro with a Troika card, and transfers are free for 90 "
    "minutes. ",
    HT("#moscow"),
    " ",
    HT("#transport"),
)

post(
    "2024-06-26 21:15",
    "The ",
    URL("polyfill.io"),
    " supply-chain attack: after the domain changed owners, scripts served "
    "from it started "
    "injecting malicious redirects into 100,000+ websites. Remove any reference to ",
    C("cdn.polyfill.io"),
    " — modern browsers don't need that polyfill anyway. ",
    HT("#security"),
    " ",
    HT("#supplychain"),
    react=[("😱", 58), ("👍", 21)],
)

post(
    "2024-06-28 18:00",
    "📊 Итоги полугодия / half-year in numbers: больше всего реакций собрал пост о бэкдоре в xz, "
    "while the most-read English post was the Voyager 1 comeback. Спасибо, что читаете! Thank you for "
    "reading ",
    CE("❤️", "5449505950283078474"),
    author=ANNA,
    react=[("❤", 132)],
)

post(
    "2024-07-12 16:00",
    "The EU AI Act has been published in the Official Journal and enters into force on August 1. Bans on "
    '"unacceptable risk" systems apply after six months, rules for general-purpose models after a year, '
    "most of the rest in 2026. ",
    HT("#AI"),
    " ",
    HT("#regulation"),
    reply="aiact",
)

post(
    "2024-07-22 16:00",
    "В Nature вышла статья о «тёмном кислороде»: на дне Тихого океана, на глубине около четырёх километров, "
    "где нет света для фотосинтеза, полиметаллические конкреции, судя по измерениям, выделяют кислород. "
    "Авторы предполагают электролиз морской воды за счёт разности потенциалов на поверхности конкреций. "
    "Результат спорный и требует независимой проверки. ",
    HT("#наука"),
    " ",
    HT("#океан"),
    react=[("🤯", 97), ("🤔", 45)],
)

# ---------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------


def _parse_when(when: str) -> datetime:
    return datetime.strptime(when, "%Y-%m-%d %H:%M").replace(tzinfo=MSK)


def _fmt(ts: int) -> str:
    return datetime.fromtimestamp(ts, MSK).strftime("%Y-%m-%dT%H:%M:%S")


def _serialize_text(parts: list[str | Part]) -> tuple[str | list[str | Part], list[Part]]:
    merged: list[str | Part] = []
    for p in parts:
        if isinstance(p, str):
            if not p:
                continue
            if merged and isinstance(merged[-1], str):
                merged[-1] += p
            else:
                merged.append(p)
        else:
            merged.append(dict(p))
    if not merged:
        return "", []
    entities = [{"type": "plain", "text": p} if isinstance(p, str) else dict(p) for p in merged]
    if len(merged) == 1 and isinstance(merged[0], str):
        return merged[0], entities
    return merged, entities


def build() -> dict[str, Any]:  # noqa: C901, PLR0912
    """Turn ``ENTRIES`` into the export object."""
    # reproducible sample data, not cryptography
    rng = random.Random(20240109)  # noqa: S311
    entries = sorted(ENTRIES, key=lambda e: _parse_when(e["when"]))  # stable: albums keep order
    ids: dict[str, int] = {}
    messages: list[dict[str, Any]] = []
    next_id, prev_ts, prev_when = 1, 0, None
    for e in entries:
        same_group = bool(messages) and e["when"] == prev_when and e["kind"] == "post" and not any(e["parts"])
        if same_group:  # album item: same second as the captioned photo, consecutive id
            ts = prev_ts
        else:
            ts = int(_parse_when(e["when"]).timestamp()) + rng.randint(0, 59)
            ts = max(ts, prev_ts + 1)
            if messages and rng.random() < ID_GAP_CHANCE:  # deleted messages leave gaps in ids
                next_id += rng.randint(1, 3)
        mid = next_id
        next_id += 1
        prev_ts, prev_when = ts, e["when"]
        m: dict[str, Any] = {
            "id": mid,
            "type": "service" if e["kind"] == "service" else "message",
            "date": _fmt(ts),
            "date_unixtime": str(ts),
        }
        if e["kind"] == "service":
            m["actor"] = CHANNEL_NAME
            m["actor_id"] = FROM_ID
            m["action"] = e["action"]
            for k, v in e["extra"].items():
                m[k] = ids[v] if k == "message_id" else v
            m["text"] = ""
            m["text_entities"] = []
            messages.append(m)
            continue
        if e["key"]:
            ids[e["key"]] = mid
        if e["edited"] is not None:
            ets = ts + e["edited"] * 60 + rng.randint(0, 59)
            m["edited"] = _fmt(ets)
            m["edited_unixtime"] = str(ets)
        m["from"] = CHANNEL_NAME
        m["from_id"] = FROM_ID
        if e["author"]:
            m["author"] = e["author"]
        if e["fwd"]:
            name, fid = e["fwd"]
            m["forwarded_from"] = name
            if fid:
                m["forwarded_from_id"] = fid
        if e["reply"]:
            m["reply_to_message_id"] = ids[e["reply"]]
        if e["media"]:
            m.update(e["media"])
        m["text"], m["text_entities"] = _serialize_text(e["parts"])
        if e["react"]:
            m["reactions"] = [{"type": "emoji", "count": n, "emoji": em} for em, n in e["react"]]
        messages.append(m)
    # the channel name changed: earlier service/author fields show the current name,
    # exactly like Desktop does (it exports the peer's name at export time).
    return {"name": CHANNEL_NAME, "type": "public_channel", "id": CHANNEL_ID, "messages": messages}


def dump(data: dict[str, Any]) -> str:
    """Serialize like Desktop: one-space indent, raw UTF-8."""
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------

# Things Telegram would auto-detect as entities must not hide in plain parts.
_UNMARKED = [
    ("hashtag", re.compile(r"(?<![\w/&])#\w")),
    ("mention", re.compile(r"(?<![\w.])@[A-Za-z]\w{3,}")),
    ("url", re.compile(r"https?://|www\.|\b[\w-]+\.(?:org|com|ru|io|gov|net|dev|ai|example)\b")),
    ("cashtag", re.compile(r"(?<!\w)\$[A-Z]{2,8}\b")),
    ("bot_command", re.compile(r"(?<![\w/<>])/[a-z]\w*(?:@\w+)?(?![\w/])")),
]
_CYR = re.compile(r"[А-Яа-яЁё]")
_LAT = re.compile(r"[A-Za-z]")


def flat_text(text: str | list[str | Part]) -> str:
    """Concatenate the parts of ``text``."""
    return text if isinstance(text, str) else "".join(p if isinstance(p, str) else p["text"] for p in text)


_NOT_PROSE = {
    "code",
    "pre",
    "link",
    "text_link",
    "email",
    "mention",
    "bot_command",
    "cashtag",
    "hashtag",
    "custom_emoji",
    "phone",
}


def prose(m: dict[str, Any]) -> str:
    """Return the words of a post, without code, links, tags and other non-language parts."""
    return "".join(e["text"] for e in m["text_entities"] if e["type"] not in _NOT_PROSE)


def language(text: str) -> str:
    """Classify by the share of Cyrillic letters: ru, en, mixed or none."""
    cyr, lat = len(_CYR.findall(text)), len(_LAT.findall(text))
    if cyr + lat == 0:
        return "none"
    share = cyr / (cyr + lat)
    return "ru" if share >= RU_SHARE else "en" if share <= 1 - RU_SHARE else "mixed"


def validate(data: dict[str, Any]) -> Counter[str]:  # noqa: C901, PLR0912, PLR0915
    """Check the export and count features; exit with a list of problems if any."""
    errors: list[str] = []
    c: Counter[str] = Counter()
    if data["type"] != "public_channel" or not isinstance(data["id"], int):
        errors.append("not a single public channel export")
    msgs = data["messages"]
    prev_id, prev_ts = 0, 0
    seen: dict[int, dict[str, Any]] = {}
    for m in msgs:
        mid = m["id"]
        if mid <= prev_id:
            errors.append(f"id {mid} not increasing")
        prev_id = mid
        ts = int(m["date_unixtime"])
        if _fmt(ts) != m["date"]:
            errors.append(f"{mid}: date {m['date']} != date_unixtime {ts} in MSK")
        if ts < prev_ts:
            errors.append(f"{mid}: time goes backwards")
        prev_ts = ts
        seen[mid] = m
        c[f"type:{m['type']}"] += 1
        if m["type"] == "service":
            c[f"action:{m['action']}"] += 1
            if m["action"] == "pin_message" and m["message_id"] not in seen:
                errors.append(f"{mid}: pins unknown message")
            continue
        if "edited" in m:
            c["edited"] += 1
            if int(m["edited_unixtime"]) <= ts or _fmt(int(m["edited_unixtime"])) != m["edited"]:
                errors.append(f"{mid}: bad edited")
        if "reply_to_message_id" in m:
            c["reply"] += 1
            if m["reply_to_message_id"] not in seen:
                errors.append(f"{mid}: reply to unknown/later message")
        if "forwarded_from" in m:
            c["forwarded"] += 1
        if "author" in m:
            c["author"] += 1
        if "photo" in m:
            c["photo"] += 1
        if "file" in m:
            c["file"] += 1
            c[f"file:{m.get('media_type', 'document')}"] += 1
        if "poll" in m:
            c["poll"] += 1
        if "reactions" in m:
            c["reactions"] += 1
        text, ents = m["text"], m["text_entities"]
        if not isinstance(ents, list):
            errors.append(f"{mid}: text_entities not a list")
        full = flat_text(text)
        if full != "".join(e["text"] for e in ents):
            errors.append(f"{mid}: text and text_entities disagree")
        if isinstance(text, str):
            if text and ents != [{"type": "plain", "text": text}]:
                errors.append(f"{mid}: plain string text needs one plain entity")
            if not text and ents:
                errors.append(f"{mid}: empty text with entities")
            c["text:string" if text else "text:empty"] += 1
        else:
            c["text:list"] += 1
            if len(text) != len(ents):
                errors.append(f"{mid}: parts/entities length mismatch")
            for part, ent in zip(text, ents, strict=False):
                if isinstance(part, str):
                    if ent != {"type": "plain", "text": part}:
                        errors.append(f"{mid}: plain part mismatch")
                elif part != ent:
                    errors.append(f"{mid}: entity part mismatch")
        for ent in ents:
            c[f"entity:{ent['type']}"] += 1
            if ent["type"] == "plain":
                for name, rx in _UNMARKED:
                    if rx.search(ent["text"]):
                        errors.append(f"{mid}: unmarked {name} in plain text: {ent['text'][:60]!r}")
            if ent["type"] == "hashtag" and _CYR.search(ent["text"]):
                c["cyrillic_hashtag"] += 1
            if ent["type"] == "text_link" and not ent.get("href"):
                errors.append(f"{mid}: text_link without href")
            if ent["type"] == "pre" and "language" not in ent:
                errors.append(f"{mid}: pre without language")
            if ent["type"] == "custom_emoji" and not ent.get("document_id"):
                errors.append(f"{mid}: custom_emoji without document_id")
        if full:
            c[f"lang:{language(prose(m))}"] += 1
            if "\n\n" in full:
                c["paragraphs"] += 1
            if len(full) >= LONG_POST_CHARS:
                c["long_post"] += 1
            if isinstance(text, list):
                first_entity = next((i for i, p in enumerate(text) if not isinstance(p, str)), None)
                before = "".join(p for p in text[:first_entity] if isinstance(p, str)) if first_entity else ""
                if any(ord(ch) > MAX_BMP for ch in before):
                    c["non_bmp_before_entity"] += 1
        else:
            c["media_only"] += 1
    minimums = {
        "type:message": 120,
        "type:service": 6,
        "edited": 8,
        "reply": 8,
        "forwarded": 6,
        "author": 3,
        "photo": 10,
        "file": 3,
        "poll": 1,
        "reactions": 10,
        "media_only": 3,
        "cyrillic_hashtag": 1,
        "non_bmp_before_entity": 1,
        "paragraphs": 3,
        "long_post": 1,
        "lang:ru": 45,
        "lang:en": 45,
        "lang:mixed": 3,
        "text:string": 10,
        "text:list": 40,
    }
    for kind in (
        "bold",
        "italic",
        "code",
        "pre",
        "text_link",
        "link",
        "hashtag",
        "mention",
        "email",
        "phone",
        "cashtag",
        "bot_command",
        "blockquote",
        "strikethrough",
        "spoiler",
        "underline",
        "custom_emoji",
    ):
        minimums[f"entity:{kind}"] = 1
    for key, need in minimums.items():
        if c[key] < need:
            errors.append(f"feature {key}: {c[key]} < {need}")
    if errors:
        raise SystemExit("validation failed:\n  " + "\n  ".join(errors))
    return c


def summary(data: dict[str, Any], c: Counter[str]) -> str:
    """Human-readable feature counts."""
    msgs = data["messages"]
    posts = [m for m in msgs if m["type"] == "message"]
    lines = [
        (
            f"{OUT.relative_to(OUT.parents[2])}: {len(msgs)} messages "
            f"({len(posts)} posts, {c['type:service']} service), ids {msgs[0]['id']}..{msgs[-1]['id']}, "
            f"{posts[0]['date'][:10]} .. {posts[-1]['date'][:10]}"
        ),
        "languages: "
        + ", ".join(f"{k[5:]}={v}" for k, v in sorted(c.items()) if k.startswith("lang:"))
        + f", media-only={c['media_only']}",
        "features: "
        + ", ".join(
            f"{k}={c[k]}"
            for k in (
                "edited",
                "reply",
                "forwarded",
                "author",
                "photo",
                "file",
                "poll",
                "reactions",
                "text:string",
                "text:list",
                "paragraphs",
                "long_post",
                "non_bmp_before_entity",
                "cyrillic_hashtag",
            )
        ),
        "files: " + ", ".join(f"{k[5:]}={v}" for k, v in sorted(c.items()) if k.startswith("file:")),
        "actions: " + ", ".join(f"{k[7:]}={v}" for k, v in sorted(c.items()) if k.startswith("action:")),
        "entities: " + ", ".join(f"{k[7:]}={v}" for k, v in sorted(c.items()) if k.startswith("entity:")),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` verify) the sample and print a summary."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--check",
        action="store_true",
        help="validate the committed file and fail if it differs from a fresh build",
    )
    args = ap.parse_args(argv)
    text = dump(build())
    if args.check:
        on_disk = OUT.read_text(encoding="utf-8")
        data = json.loads(on_disk)
        counts = validate(data)
        if on_disk != text:
            print("result.json is out of date: run python samples/make_sample.py", file=sys.stderr)
            return 1
    else:
        data = json.loads(text)
        counts = validate(data)
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(text, encoding="utf-8")
    print(summary(data, counts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
