"""The one-shot benchmark end to end, at toy size: a real supernet on Ray Train, the search,
stand-alone trainings over several seeds, and its figures on the held-out images."""

import pytest

from raynas.bench.oneshot import _mean_pairwise_tau, oneshot_bench, tau_by_seeds


def test_mean_pairwise_tau_averages_every_pair_of_seeds():
    assert _mean_pairwise_tau([[1, 2, 3], [1, 2, 3], [3, 2, 1]]) == pytest.approx((1 - 1 - 1) / 3)
    assert _mean_pairwise_tau([[1, 2, 3]]) != _mean_pairwise_tau([[1, 2, 3]])  # nan: one seed


def test_tau_by_seeds_averages_over_every_choice_of_k_seeds():
    from scipy.stats import kendalltau

    scores = [1, 2, 3, 4]
    seeds = [[1, 2, 3, 4], [1, 2, 4, 3], [2, 1, 3, 4]]
    one, two, three = tau_by_seeds(scores, seeds)
    assert one == pytest.approx((1 + 4 / 6 + 4 / 6) / 3)
    pairs = [[1, 2, 3.5, 3.5], [1.5, 1.5, 3, 4], [1.5, 1.5, 3.5, 3.5]]  # the means of 2 seeds
    assert two == pytest.approx(sum(kendalltau(scores, p)[0] for p in pairs) / 3)
    assert three == pytest.approx(kendalltau(scores, [4 / 3, 5 / 3, 10 / 3, 11 / 3])[0])
    assert three == 1.0 > one  # averaging the seeds' noise: closer to the scores' order


@pytest.mark.slow
def test_bench_scores_inherited_and_stand_alone_figures_on_the_held_out_images(ray_local, tmp_path):
    result = oneshot_bench(supernet_epochs=1, candidates=6, standalone=4, standalone_epochs=1,
                           standalone_seeds=2, out=tmp_path, echo=lambda _: None)
    assert result.candidates == 6 and result.standalone_seeds == 2
    assert len(result.standalone_heldout) == 2 and all(len(s) == 4 for s in result.standalone_heldout)
    # validation (270) and test (270) images: accuracies are multiples of 1/540
    for accuracy in result.inherited_heldout + result.standalone_heldout[0]:
        assert 0.0 <= accuracy <= 1.0 and abs(accuracy * 540 - round(accuracy * 540)) < 1e-6
    assert result.standalone_heldout[0] != result.standalone_heldout[1]  # the seeds differ
    assert -1.0 <= result.noise_ceiling <= 1.0 and -1.0 <= result.kendall_tau_heldout <= 1.0
    assert len(result.kendall_tau_by_seeds) == 2
