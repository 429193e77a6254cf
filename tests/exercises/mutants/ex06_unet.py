"""Wrong answers learners write for exercise 06, as edits of solutions/ex06_unet.py
(format: see ex01_forward.py)."""

MUTANTS = {
    "timestep_embedding: sin before cos": (
        "torch.cat([torch.cos(args), torch.sin(args)], dim=-1)",
        "torch.cat([torch.sin(args), torch.cos(args)], dim=-1)"),
    "timestep_embedding: exponents i / (half - 1)": (
        "torch.arange(half, dtype=torch.float32) / half)",
        "torch.arange(half, dtype=torch.float32) / (half - 1))"),
    "timestep_embedding: max_period ignored": (
        "-math.log(max_period) * torch.arange(half, dtype",
        "-math.log(10000.0) * torch.arange(half, dtype"),
    "timestep_embedding: float64 result": (
        "dtype=torch.float32) / half", "dtype=torch.float64) / half"),
    "timestep_embedding: growing frequencies (sign)": (
        "    freqs = torch.exp(-math.log(max_period)",
        "    freqs = torch.exp(math.log(max_period)"),
    "resblock_forward: no SiLU on the time embedding": (
        "block.time_emb_proj(F.silu(temb))", "block.time_emb_proj(temb)"),
    "resblock_forward: time embedding after norm2": (
        "    h = h + block.time_emb_proj(F.silu(temb))[:, :, None, None]\n"
        "    h = block.conv2(block.dropout(F.silu(block.norm2(h))))",
        "    h = block.norm2(h) + block.time_emb_proj(F.silu(temb))[:, :, None, None]\n"
        "    h = block.conv2(block.dropout(F.silu(h)))"),
    "resblock_forward: time embedding missing": (
        "    h = h + block.time_emb_proj(F.silu(temb))[:, :, None, None]\n", ""),
    "resblock_forward: no shortcut": ("return block.conv_shortcut(x) + h", "return h"),
    "resblock_forward: calls the block itself": (
        "    h = block.conv1(F.silu(block.norm1(x)))\n",
        "    return block(x, temb)\n    h = block.conv1(F.silu(block.norm1(x)))\n"),
    "unet_forward: skips first in, first out": (
        "            s = skips.pop()\n", "            s = skips.pop(0)\n"),
    "unet_forward: use_skips ignored": (
        "            if not use_skips:\n                s = torch.zeros_like(s)\n", ""),
    "unet_forward: concatenation order [s, h]": (
        "h = resnet(torch.cat([h, s], dim=1), temb)\n            if len(",
        "h = resnet(torch.cat([s, h], dim=1), temb)\n            if len("),
    "unet_forward: no SiLU before conv_out": (
        "net.conv_out(F.silu(net.conv_norm_out(h)))", "net.conv_out(net.conv_norm_out(h))"),
    "unet_forward: downsampled skip not pushed": (
        "h = level.resampler(h)\n            skips.append(h)", "h = level.resampler(h)"),
    "unet_forward: calls net(x, t)": (
        "    temb = net.time_embedding(t)\n",
        "    return net(x, t)\n    temb = net.time_embedding(t)\n"),
}
