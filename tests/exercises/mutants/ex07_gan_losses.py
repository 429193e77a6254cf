"""Wrong answers learners write for exercise 07, as edits of solutions/ex07_gan_losses.py
(format: see ex01_forward.py)."""

_D = "return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()"
_R1 = "return 0.5 * gamma * grad.pow(2).flatten(1).sum(1).mean()"
_MODES = "counts = torch.bincount(nearest[dist < radius], minlength=centres.shape[0])"

MUTANTS = {
    "discriminator_loss: real and fake swapped": (
        _D, "return F.softplus(real_logits).mean() + F.softplus(-fake_logits).mean()"),
    "discriminator_loss: log(sigmoid) written out (overflows)": (
        _D, "return -torch.log(torch.sigmoid(real_logits)).mean() "
            "- torch.log(1 - torch.sigmoid(fake_logits)).mean()"),
    "discriminator_loss: one mean over both batches": (
        _D, "return torch.cat([F.softplus(-real_logits), F.softplus(fake_logits)]).mean()"),
    "discriminator_loss: sums instead of means": (
        _D, "return F.softplus(-real_logits).sum() + F.softplus(fake_logits).sum()"),
    "discriminator_loss: the fake term forgotten": (_D, "return F.softplus(-real_logits).mean()"),
    "generator_loss: non-saturating with the wrong sign inside": (
        "    return F.softplus(-fake_logits).mean()\n", "    return F.softplus(fake_logits).mean()\n"),
    "generator_loss: saturating flag ignored": (
        "    if saturating:\n        return -F.softplus(fake_logits).mean()\n", ""),
    "generator_loss: saturating without the minus": (
        "        return -F.softplus(fake_logits).mean()", "        return F.softplus(fake_logits).mean()"),
    "generator_loss: saturating written as -log D (the non-saturating one)": (
        "        return -F.softplus(fake_logits).mean()", "        return F.softplus(-fake_logits).mean()"),
    "r1_penalty: gamma instead of gamma / 2": (_R1, "return gamma * grad.pow(2).flatten(1).sum(1).mean()"),
    "r1_penalty: the norm, not its square": (
        _R1, "return 0.5 * gamma * grad.flatten(1).norm(dim=1).mean()"),
    "r1_penalty: mean over every element": (_R1, "return 0.5 * gamma * grad.pow(2).mean()"),
    "r1_penalty: sum over the batch": (_R1, "return 0.5 * gamma * grad.pow(2).sum()"),
    "r1_penalty: no create_graph (cannot train D)": (
        "(grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)",
        "(grad,) = torch.autograd.grad(real_logits.sum(), real, retain_graph=True)"),
    "modes_covered: radius ignored": (_MODES, "counts = torch.bincount(nearest, minlength=centres.shape[0])"),
    "modes_covered: share of the close samples only": (
        "return int((counts >= min_share * samples.shape[0]).sum())",
        "return int((counts >= min_share * counts.sum()).sum())"),
    "modes_covered: strictly more than min_share": (
        "return int((counts >= min_share * samples.shape[0]).sum())",
        "return int((counts > min_share * samples.shape[0]).sum())"),
    "modes_covered: a tensor returned": (
        "return int((counts >= min_share * samples.shape[0]).sum())",
        "return (counts >= min_share * samples.shape[0]).sum()"),
}
