"""The sign-up's arithmetic question and its limit per source, on a clock
the test moves (the daemon's are tested over HTTPS in
``tests/appliance/panel/test_signup.py``)."""

from __future__ import annotations

import pytest

from appliance.services.signup import Challenges, SignupRefused, SourceLimit, TooManySignups


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_an_answer_after_the_questions_life_is_refused_as_expired():
    """A question answered right, but after its 30 minutes, is refused as expired."""
    clock = Clock()
    challenges = Challenges(1800, clock=clock)
    question = challenges.issue()
    clock.now += 1801
    with pytest.raises(SignupRefused) as refused:
        challenges.spend(question.token, str(question.a + question.b))
    assert (refused.value.field, refused.value.reason) == ("answer", "expired")


def test_a_question_is_spent_by_its_first_answer_right_or_wrong():
    """A wrong answer spends the token: the right one after it is refused."""
    challenges = Challenges(1800, clock=Clock())
    question = challenges.issue()
    with pytest.raises(SignupRefused) as wrong:
        challenges.spend(question.token, str(question.a + question.b + 1))
    assert wrong.value.reason == "wrong"
    with pytest.raises(SignupRefused) as spent:
        challenges.spend(question.token, str(question.a + question.b))
    assert spent.value.reason == "spent"


def test_a_right_answer_within_its_life_passes_once():
    challenges = Challenges(1800, clock=Clock())
    question = challenges.issue()
    challenges.spend(question.token, f" {question.a + question.b} ")
    with pytest.raises(SignupRefused):
        challenges.spend(question.token, str(question.a + question.b))


@pytest.mark.parametrize("token", ["", "x", "1.2", "a.b.c", "9999999999." + "n" * 40 + ".mac"])
def test_a_malformed_token_is_refused(token):
    with pytest.raises(SignupRefused):
        Challenges(1800, clock=Clock()).spend(token, "3")


def test_the_limit_per_source_counts_an_hour_and_gives_back_failures():
    """5 an hour per source; a sign-up that failed does not count; an hour later there is room again."""
    clock = Clock()
    limit = SourceLimit(5, clock=clock)
    for _ in range(5):
        limit.take("192.0.2.1")
    with pytest.raises(TooManySignups):
        limit.take("192.0.2.1")
    limit.take("192.0.2.2")  # another source is not held back
    limit.give_back("192.0.2.2")
    clock.now += 3601
    limit.take("192.0.2.1")
