import numpy as np
import pytest
import torch

from tracker.backbones import BACKBONES, build_backbone
from tracker.config import ModelConfig
from tracker.heads import HEADS, CorrelationHead, build_head, correlate_taps
from tracker.model import SiamFC, UntrainedWarning, build_model, fuse_batchnorm, int8_float_modules


def test_alexnet_feature_shapes(random_model):
    with torch.inference_mode():
        assert random_model.embed(torch.rand(1, 3, 127, 127)).shape == (1, 256, 6, 6)
        assert random_model.backbone(torch.rand(2, 3, 255, 255)).shape == (2, 256, 22, 22)


def test_score_batch_of_search_crops_against_one_template(random_model):
    torch.manual_seed(1)
    z = random_model.embed(torch.rand(1, 3, 127, 127) * 255)
    x = torch.rand(3, 3, 255, 255) * 255
    with torch.inference_mode():
        batched = random_model.score(z, x)["response"]
        singles = torch.cat([random_model.score(z, x[i : i + 1])["response"] for i in range(3)])
    assert batched.shape == (3, 1, 17, 17)
    torch.testing.assert_close(batched, singles, rtol=1e-4, atol=1e-4)


def test_head_scale_and_pairs():
    z = torch.randn(2, 4, 3, 3)
    x = torch.randn(2, 4, 7, 7)
    head = CorrelationHead(scale=0.001)
    pairs = head.forward_pairs(z, x)
    assert pairs.shape == (2, 1, 5, 5)
    for i in range(2):
        torch.testing.assert_close(pairs[i : i + 1], head(z[i : i + 1], x[i : i + 1])["response"])
    # Two targets with one crop each in one call: the same as the pairs.
    torch.testing.assert_close(head(z, x)["response"], pairs)
    # 0.001 times the plain correlation, computed by hand at one location.
    expected = 0.001 * (z[0] * x[0, :, 1:4, 2:5]).sum()
    torch.testing.assert_close(pairs[0, 0, 1, 2], expected)
    assert not any(p.requires_grad for p in head.parameters())  # no bias by default, scale is a constant


@pytest.mark.parametrize("kernel, features, crops", [((3, 3), (7, 7), 2), ((2, 4), (5, 9), 3), ((8, 8), (32, 32), 3), ((1, 1), (4, 6), 1)])
def test_correlate_taps_equals_the_convolution(kernel, features, crops):
    torch.manual_seed(0)
    z = torch.randn(1, 5, *kernel)
    x = torch.randn(crops, 5, *features)
    expected = torch.nn.functional.conv2d(x, z)
    got = correlate_taps(z, x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # channels_last search features (the CPU backend's layout) give the same maps
    torch.testing.assert_close(correlate_taps(z, x.contiguous(memory_format=torch.channels_last)), expected, rtol=1e-5, atol=1e-5)
    # one cell by hand: template at offset (row 1, col 0)
    if features[0] > kernel[0] and features[1] >= kernel[1]:
        torch.testing.assert_close(got[0, 0, 1, 0], (z[0] * x[0, :, 1 : 1 + kernel[0], 0 : kernel[1]]).sum(), rtol=1e-5, atol=1e-5)


def test_head_bias_is_a_parameter():
    head = CorrelationHead(bias=True)
    assert [name for name, _ in head.named_parameters()] == ["bias"]


def test_model_holds_no_template_state(random_model):
    before = {k: v.clone() for k, v in random_model.state_dict().items()}
    with torch.inference_mode():
        random_model.embed(torch.rand(1, 3, 127, 127))
    after = random_model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_fused_batchnorm_gives_same_outputs(random_model):
    # Give BatchNorm non-trivial statistics so the fold has something to do.
    torch.manual_seed(2)
    for module in random_model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
            module.weight.data.uniform_(0.5, 1.5)
    fused = fuse_batchnorm(random_model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    x = torch.rand(2, 3, 255, 255) * 255
    with torch.inference_mode():
        torch.testing.assert_close(fused.backbone(x), random_model.backbone(x), rtol=1e-3, atol=1e-3)


def test_registry_and_unknown_backbone():
    assert "alexnet" in BACKBONES
    with pytest.raises(ValueError, match="unknown backbone 'resnet9000'; registered backbones: alexnet"):
        build_backbone("resnet9000")


def test_build_model_without_weights_warns():
    with pytest.warns(UntrainedWarning, match="random weights"):
        build_model(ModelConfig())


def test_score_exports_to_onnx_with_dynamic_batch(random_model, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")

    class Score(torch.nn.Module):
        def __init__(self, model: SiamFC) -> None:
            super().__init__()
            self.model = model

        def forward(self, z_feat, search):
            return self.model.score(z_feat, search)["response"]

    z = torch.randn(1, 256, 6, 6)
    path = tmp_path / "score.onnx"
    torch.onnx.export(
        Score(random_model).eval(), (z, torch.rand(3, 3, 255, 255) * 255), str(path),
        input_names=["z_feat", "x"], output_names=["response"],
        dynamic_axes={"x": {0: "scales"}, "response": {0: "scales"}}, opset_version=17, dynamo=False,
    )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for scales in (1, 5):
        x = np.random.default_rng(scales).uniform(0, 255, (scales, 3, 255, 255)).astype(np.float32)
        (out,) = session.run(None, {"z_feat": z.numpy(), "x": x})
        with torch.inference_mode():
            expected = random_model.score(z, torch.from_numpy(x))["response"].numpy()
        assert out.shape == (scales, 1, 17, 17)
        np.testing.assert_allclose(out, expected, atol=1e-3 * np.abs(expected).max())


def test_cosine_head_matches_pairs_and_is_bounded():
    torch.manual_seed(3)
    head = CorrelationHead(scale=1.0, similarity="cosine")
    z = torch.randn(1, 4, 3, 3)
    x = torch.randn(2, 4, 7, 7)
    single = head(z, x)["response"]
    pairs = head.forward_pairs(z.expand(2, -1, -1, -1), x)
    torch.testing.assert_close(single, pairs, rtol=1e-4, atol=1e-5)
    assert single.abs().max() <= 1.0 + 1e-5
    # A window equal to the template (times 5) has cosine 1.
    x[0, :, 2:5, 1:4] = 5 * z[0]
    assert head(z, x)["response"][0, 0, 2, 1].item() == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="similarity must be one of"):
        CorrelationHead(similarity="dot")


@pytest.mark.parametrize("targets, crops_per_target", [(2, 3), (3, 1), (4, 2)])
def test_correlate_taps_scores_each_target_on_its_own_crops(targets, crops_per_target):
    torch.manual_seed(4)
    z = torch.randn(targets, 6, 3, 4)
    x = torch.randn(targets * crops_per_target, 6, 9, 8)
    got = correlate_taps(z, x)
    assert got.shape == (targets * crops_per_target, 1, 7, 5)
    for n in range(targets):
        rows = slice(n * crops_per_target, (n + 1) * crops_per_target)
        torch.testing.assert_close(got[rows], torch.nn.functional.conv2d(x[rows], z[n : n + 1]), rtol=1e-5, atol=1e-5)


def test_head_registry_builds_by_config_and_names_the_valid_heads():
    assert isinstance(build_head(ModelConfig()), CorrelationHead)
    assert list(HEADS) == ["correlation", "box"]
    with pytest.raises(ValueError, match="unknown head 'boxes'; registered heads: box, correlation"):
        build_head(ModelConfig(head="boxes"))


def test_model_names_its_outputs_and_the_modules_int8_keeps_fp32(random_model):
    assert random_model.outputs == ("response",)
    assert int8_float_modules(random_model) == ["head"]
    mobilenet = SiamFC(ModelConfig(backbone="mobilenet_v2", response_size=25, template_feature_crop=8))
    assert int8_float_modules(mobilenet) == [
        "backbone.normalise", "backbone.features.0", "backbone.features.1", "backbone.features.2", "head"]
