"""``python -m tracker.train.average``: the mean of several epochs' weights, and what it refuses."""
import pytest
import torch

from tracker.errors import WeightsError
from tracker.train.average import average_payloads, main
from tracker.weights import FORMAT, VERSION, read_weights_file, write_payload


def _payload(weight: float, counter: int, model: dict = None) -> dict:
    return {"format": FORMAT, "version": VERSION, "config": {"model": model or {"backbone": "b"}},
            "state_dict": {"conv.weight": torch.full((2, 2), weight), "bn.num_batches_tracked": torch.tensor(counter)},
            "record": {"epoch": counter}}


def test_float_tensors_are_averaged_and_integer_ones_taken_from_the_last():
    averaged = average_payloads([_payload(1.0, 10), _payload(2.0, 20), _payload(6.0, 30)], ["e1.pt", "e2.pt", "e3.pt"])
    torch.testing.assert_close(averaged["state_dict"]["conv.weight"], torch.full((2, 2), 3.0))
    assert int(averaged["state_dict"]["bn.num_batches_tracked"]) == 30
    assert averaged["record"] == {"epoch": 30, "averaged_from": ["e1.pt", "e2.pt", "e3.pt"]}


def test_other_architectures_and_layouts_are_refused():
    with pytest.raises(WeightsError, match="another architecture"):
        average_payloads([_payload(1.0, 1), _payload(1.0, 1, model={"backbone": "other"})], ["a.pt", "b.pt"])
    reshaped = _payload(1.0, 1)
    reshaped["state_dict"]["conv.weight"] = torch.ones(3, 2)
    with pytest.raises(WeightsError, match=r"shape \(3, 2\)"):
        average_payloads([_payload(1.0, 1), reshaped], ["a.pt", "b.pt"])
    with pytest.raises(ValueError, match="no weights files"):
        average_payloads([], [])


def test_the_cli_writes_a_sealed_file_and_never_overwrites_an_input(tmp_path, capsys):
    paths = []
    for index, weight in enumerate((1.0, 3.0)):
        paths.append(str(tmp_path / f"epoch{index}.pt"))
        write_payload(paths[-1], _payload(weight, index))
    out = str(tmp_path / "mean.pt")
    assert main([*paths, "--out", out]) == 0
    torch.testing.assert_close(read_weights_file(out)["state_dict"]["conv.weight"], torch.full((2, 2), 2.0))
    assert main([*paths, "--out", paths[0]]) == 2
    assert "is one of the inputs" in capsys.readouterr().err
    assert main([paths[0], "--out", out]) == 2
    assert main([paths[0], str(tmp_path / "missing.pt"), "--out", out]) == 2
    assert "not found" in capsys.readouterr().err
