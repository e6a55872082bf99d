from dataclasses import replace

from {{ cookiecutter.package_name }}.gate.policy import GatePolicy, Override, binding_policy, loosenings

CHAMPION = GatePolicy(
    metric="roc_auc",
    margin=0.25,
    guardrails=("balanced_accuracy", "log_loss"),
    floor=0.8,
    bootstrap=1000,
    confidence=0.95,
    min_holdout_rows=50,
    max_latency_ratio=2.0,
    max_size_ratio=5.0,
    seed=42,
)


def test_with_no_champion_or_with_an_override_the_candidates_policy_applies():
    looser = replace(CHAMPION, margin=1.0, floor=0.5)
    assert binding_policy(looser, None, None) == looser
    assert binding_policy(looser, CHAMPION, Override("a new kind of data", "a reviewer")) == looser


def test_a_looser_candidate_is_held_to_the_champions_policy_number_by_number():
    looser = replace(
        CHAMPION,
        margin=1.0,
        floor=0.6,
        confidence=0.8,
        bootstrap=100,
        min_holdout_rows=10,
        max_latency_ratio=None,
        max_size_ratio=10.0,
        guardrails=(),
        seed=7,
    )
    assert binding_policy(looser, CHAMPION, None) == CHAMPION
    assert loosenings(looser, CHAMPION) == [
        "gate.guardrails without balanced_accuracy, log_loss",
        "gate.margin 0.25 -> 1",
        "gate.confidence 0.95 -> 0.8",
        "gate.bootstrap 1000 -> 100",
        "gate.min_holdout_rows 50 -> 10",
        "gate.max_latency_ratio 2 -> null",
        "gate.max_size_ratio 5 -> 10",
        "gate.floor 0.8 -> 0.6",
    ]


def test_a_stricter_candidate_tightens_the_bar_and_adds_guardrails():
    stricter = replace(CHAMPION, margin=0.1, floor=0.9, guardrails=("accuracy",), max_latency_ratio=1.5)
    bound = binding_policy(stricter, CHAMPION, None)
    assert (bound.margin, bound.floor, bound.max_latency_ratio) == (0.1, 0.9, 1.5)
    assert bound.guardrails == ("balanced_accuracy", "log_loss", "accuracy")
    assert loosenings(stricter, CHAMPION) == ["gate.guardrails without balanced_accuracy, log_loss"]


def test_another_metric_is_judged_by_the_champions_metric_and_floor():
    other = replace(CHAMPION, metric="accuracy", floor=0.1)
    bound = binding_policy(other, CHAMPION, None)
    assert (bound.metric, bound.floor) == ("roc_auc", 0.8)
    assert loosenings(other, CHAMPION)[0] == "gate.metric roc_auc -> accuracy"


def test_a_lower_is_better_floor_is_stricter_when_lower():
    champion = replace(CHAMPION, metric="rmse", guardrails=("mae",), floor=60.0)
    assert binding_policy(replace(champion, floor=50.0), champion, None).floor == 50.0
    assert binding_policy(replace(champion, floor=70.0), champion, None).floor == 60.0
    assert loosenings(replace(champion, floor=70.0), champion) == ["gate.floor 60 -> 70"]


def test_the_slice_check_binds_like_the_rest_of_the_policy():
    slices = CHAMPION.slices
    looser = replace(
        CHAMPION, slices=replace(slices, auto=False, columns=("plan",), margin=1.0, min_rows=500, max_values=3)
    )
    champion = replace(CHAMPION, slices=replace(slices, columns=("region",)))
    bound = binding_policy(looser, champion, None).slices
    assert (bound.auto, bound.columns, bound.margin, bound.min_rows, bound.max_values) == (
        True,
        ("region", "plan"),
        slices.margin,
        slices.min_rows,
        slices.max_values,
    )
    assert loosenings(looser, champion) == [
        "gate.slices.columns without the default columns",
        "gate.slices.columns without region",
        f"gate.slices.margin {slices.margin:g} -> 1",
        f"gate.slices.min_rows {slices.min_rows:g} -> 500",
        f"gate.slices.max_values {slices.max_values:g} -> 3",
    ]
    stricter = replace(CHAMPION, slices=replace(slices, margin=0.1, min_rows=10))
    assert binding_policy(stricter, CHAMPION, None).slices == stricter.slices
    assert loosenings(stricter, CHAMPION) == []
