"""Cleaning and sentence splitting of job-ad text."""

import pytest

from contextmatch.text import clean_text, split_sentences


def sentences(text):
    return [text[a:b] for a, b in split_sentences(text)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("• Python\n• SQL", ["Python", "SQL"]),
        ("- Java; Kotlin; Scala", ["Java", "Kotlin", "Scala"]),
        ("1. Build APIs\n2) Review code", ["Build APIs", "Review code"]),
        ("We use Python. You know SQL! Do you speak Dutch? Great.",
         ["We use Python.", "You know SQL!", "Do you speak Dutch?", "Great."]),
        ("Tools, e.g. Jira, i.e. trackers, etc. are used.", ["Tools, e.g. Jira, i.e. trackers, etc. are used."]),
        ("Report to Dr. Smith and Sr. Manager J. Doe.", ["Report to Dr. Smith and Sr. Manager J. Doe."]),
        ("Salary 3.5 to 4.2 k. Start in May.", ["Salary 3.5 to 4.2 k.", "Start in May."]),
        ("Skills: Excel • Word • PowerPoint", ["Skills: Excel", "Word", "PowerPoint"]),
        ("\n\n  \n---\n", []),
        ("", []),
    ],
)
def test_split_sentences(text, expected):
    assert sentences(text) == expected


def test_spans_never_cut_words():
    text = clean_text(
        "<h2>Profile</h2><ul><li>5+ yrs. experience w/ C++ &amp; Rust</li><li>Fluent in English; Dutch a plus</li></ul>"
        "<p>We offer: a salary of EUR 4.500,- and more.Really.</p>\r\nApply now!!! Contact: jobs@example.com"
    )
    for start, end in split_sentences(text):
        assert start == 0 or not (text[start - 1].isalnum() and text[start].isalnum())
        assert end == len(text) or not (text[end - 1].isalnum() and text[end].isalnum())
        assert text[start:end] == text[start:end].strip()


def test_html_is_reduced_to_visible_text_with_bullets():
    html = "<html><head><style>p{color:red}</style></head><body><p>About&nbsp;us</p><ul><li>SQL</li></ul></body></html>"
    assert clean_text(html) == "About us\n- SQL"
    assert sentences(clean_text(html)) == ["About us", "SQL"]


def test_markdown_marks_are_removed():
    assert sentences(clean_text("## Your profile\n* **Python** and [Docker](https://docker.com)")) == [
        "Your profile", "Python and Docker"]


def test_other_languages_and_control_characters_survive():
    text = clean_text("Du sprichst fließend Deutsch.\x00 Vous parlez français. 日本語が話せる。")
    assert "\x00" not in text
    assert sentences(text)[:2] == ["Du sprichst fließend Deutsch.", "Vous parlez français."]
