import pytest

from tracker.config import ModelConfig, TrackerConfig, TrackingConfig, config_path, from_dict, load_config


def test_shipped_three_scale_config():
    config = load_config(config_path("siamfc_alexnet"))
    assert config.tracking == TrackingConfig()  # the YAML spells out the SiamFC-3s defaults
    assert config.model == ModelConfig()


def test_shipped_five_scale_config():
    tracking = load_config(config_path("siamfc_alexnet_5s")).tracking
    assert (tracking.scale_count, tracking.scale_step, tracking.scale_penalty) == (5, 1.0255, 0.962)
    assert (tracking.scale_lr, tracking.window_influence) == (0.34, 0.168)


def test_configs_are_frozen():
    config = TrackerConfig()
    with pytest.raises(Exception):
        config.tracking.scale_lr = 0.1


def test_unknown_key_names_valid_keys(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("tracking:\n  scale_stepp: 1.1\n")
    with pytest.raises(ValueError, match=r"tracking\.scale_stepp.*valid keys under tracking: context, scale_count"):
        load_config(path)


def test_unknown_top_level_key():
    with pytest.raises(ValueError, match="unknown config key.*trackin.*valid keys: model, tracking"):
        from_dict(TrackerConfig, {"trackin": {}})


@pytest.mark.parametrize(
    "data, words",
    [
        ({"tracking": {"scale_count": "3"}}, "tracking.scale_count' must be an integer"),
        ({"tracking": {"scale_count": 3.0}}, "must be an integer"),
        ({"tracking": {"scale_lr": "fast"}}, "tracking.scale_lr' must be a number"),
        ({"tracking": {"scale_lr": True}}, "must be a number"),
        ({"model": {"head_bias": 1}}, "must be true or false"),
        ({"model": {"backbone": 3}}, "must be a string"),
        ({"model": [1, 2]}, "'model' must be a mapping"),
        ({"tracking": {"scale_count": 4}}, "odd number"),
        ({"tracking": {"window_influence": 1.5}}, r"in \[0, 1\]"),
        ({"tracking": {"scale_lr": -0.1}}, "scale_lr' must be >= 0"),
        ({"tracking": {"box_width_scale": 0.2}}, r"box_width_scale' must be in \[0.5, 2\]"),
        ({"tracking": {"scale_lr": 1.5}}, r"tracking.scale_lr' must be in \[0, 1\] for the 'correlation' head"),
    ],
)
def test_wrong_types_and_ranges(data, words):
    with pytest.raises(ValueError, match=words):
        from_dict(TrackerConfig, data)


def test_the_box_heads_scale_lr_may_exceed_one():
    # It multiplies the penalised score (0.1-0.5 for these heads), capped at 1 in the loop.
    config = from_dict(TrackerConfig, {"model": {"head": "box"}, "tracking": {"scale_lr": 2.0}})
    assert config.tracking.scale_lr == 2.0


def test_ints_are_accepted_for_floats():
    assert from_dict(TrackerConfig, {"tracking": {"context": 1}}).tracking.context == 1.0


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("tracking: [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_config(broken)


def test_empty_file_gives_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_config(path) == TrackerConfig()

