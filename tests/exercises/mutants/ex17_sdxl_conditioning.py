"""Wrong answers learners write for exercise 17, as edits of solutions/ex17_sdxl_conditioning.py
(format: see ex01_forward.py)."""

_CAT_IDS = "return torch.cat([orig, crop, target], dim=1)"
_EMBED = "time_embeds = timestep_embedding(time_ids.flatten(), dim)"
_CAT_ADDED = "return torch.cat([pooled, time_embeds.reshape(B, 6 * dim)], dim=-1)"

MUTANTS = {
    "ids: sizes as (width, height)": (_CAT_IDS, "return torch.cat([orig.flip(1), crop, target.flip(1)], dim=1)"),
    "ids: the target size before the crop": (_CAT_IDS, "return torch.cat([orig, target, crop], dim=1)"),
    "ids: the crop as (left, top)": (_CAT_IDS, "return torch.cat([orig, crop.flip(1), target], dim=1)"),
    "ids: the batch dimension forgotten (one row whatever batch_size)": (
        "orig, crop, target = (r.expand(B, 2) for r in (orig, crop, target))\n", ""),
    "ids: left as integers (int64)": ("rows = torch.as_tensor(value).to(torch.float32)",
                                      "rows = torch.as_tensor(value)"),
    "ids: negative crop offsets accepted": (
        'crop = _pair("crops_coords_top_left", crops_coords_top_left, minimum=0)',
        'crop = _pair("crops_coords_top_left", crops_coords_top_left, minimum=-10 ** 9)'),
    "ids: an original size of 0 accepted": (
        'orig = _pair("original_size", original_size, minimum=1)',
        'orig = _pair("original_size", original_size, minimum=0)'),
    "embedding: sin half first (flip_sin_to_cos=False)": (
        _EMBED, "time_embeds = timestep_embedding(time_ids.flatten(), dim, flip_sin_to_cos=False)"),
    "embedding: the pooled text after the time ids": (
        _CAT_ADDED, "return torch.cat([time_embeds.reshape(B, 6 * dim), pooled], dim=-1)"),
    "embedding: one shared embedding of all six numbers instead of one per number": (
        _CAT_ADDED, "return torch.cat([pooled, timestep_embedding(time_ids.sum(1), 6 * dim)], dim=-1)"),
    "embedding: ids flattened number-major (images mixed up)": (
        _EMBED, "time_embeds = timestep_embedding(time_ids.t().flatten(), dim)"),
    "embedding: the batch dimension forgotten (all images on one row)": (
        _CAT_ADDED, "return torch.cat([pooled.reshape(1, -1), time_embeds.reshape(1, -1)], dim=-1)"),
    "embedding: the raw numbers appended instead of their Fourier features": (
        _CAT_ADDED, "return torch.cat([pooled, time_ids], dim=-1)"),
    "ids: the library's answer called": (
        _CAT_IDS, "from diffusionlab.nn import embeddings\n"
                  "    return embeddings.micro_conditioning_ids(original_size, crops_coords_top_left, "
                  "target_size, B)"),
    "embedding: the library's answer called": (
        _CAT_ADDED, "from diffusionlab.nn import embeddings\n"
                    "    return embeddings.added_condition_embedding(pooled, time_ids, dim)"),
    "MLP: no SiLU between the two linears": (
        "aug = linear_2(torch.nn.functional.silu(linear_1(added)))", "aug = linear_2(linear_1(added))"),
    "MLP: the time embedding replaced instead of added to": ("return temb + aug", "return aug"),
    "MLP: the condition added before the MLP's second layer only": (
        "aug = linear_2(torch.nn.functional.silu(linear_1(added)))",
        "aug = torch.nn.functional.silu(linear_1(added))\n    return linear_2(temb + aug)"),
}
