import json
R = "README.md"
s = open(R).read()
t = json.load(open("diffusionlab/weights/gan_toy25/manifest.json"))
h = json.load(open("diffusionlab/weights/gan_shapes/manifest.json"))
s = s.replace("`evaluator`, `inpaint`,", "`evaluator`, `gan_shapes`, `gan_toy25`, `inpaint`,", 1)
row07 = ("| 07 | `07_diffusion_vs_gans` | D31-Q1 | GAN vs diffusion at the same size and training time: "
         "modes covered on the 25-grid per seed, FID and class coverage on the shapes, loss curves, "
         "FLOPs per sample, a smooth GAN latent walk, diffusion's likelihood bound against the true "
         "density | ex07 |\n")
anchor = "| 08 | `08_cross_attention_clip`"
assert anchor in s
s = s.replace(anchor, row07 + anchor, 1)
s = s.replace("Planned (DESIGN.md section 5), not yet written: 07 diffusion vs GANs (D31-Q1),\n12 LoRA",
              "Planned (DESIGN.md section 5), not yet written: 12 LoRA", 1)
g, d = t["per_seed"]["gan"], t["per_seed"]["diffusion"]
fmt = lambda runs, k: "/".join(str(r[k]) for r in runs)
toy_row = (f"| `gan_toy25` | GAN (MLP generator + R1-penalised discriminator) and a diffusion MLP of the "
           f"same size on the 25-Gaussian grid, {t['num_seeds']} seeds each (lesson 07) | "
           f"{t['gan']['generator_parameters'] // 1000}k (G) / {t['diffusion']['parameters'] // 1000}k | "
           f"modes covered per seed: GAN {fmt(g, 'modes_covered')}, diffusion {fmt(d, 'modes_covered')} (of 25); "
           f"share of samples near a mode, shipped seed: GAN {t['scores']['gan']['near_mode_share']:.2f}, "
           f"diffusion {t['scores']['diffusion']['near_mode_share']:.2f} | GAN {t['gan_steps']} / diffusion "
           f"{t['diffusion_steps']} steps per seed, {t['wall_time_s'] / 60:.0f} min for all |\n")
hs = h["per_seed"]
ref = h["diffusion_reference"]
fids = "/".join(format(r["fid"], ".1f") for r in hs)
shapes_row = (f"| `gan_shapes` | DCGAN-style GAN on the shapes, spectral norm on D, EMA of G, {h['steps']} steps x "
              f"{len(hs)} seeds (lesson 07) | {h['generator_parameters'] // 1000}k (G; the `unet_pixel` size) | "
              f"FID (500 v 500) per seed {fids} vs floor {hs[0]['fid_floor']:.2f}; "
              f"classes covered {'/'.join(str(r['classes_covered']) for r in hs)} of 15; `unet_pixel` with 20 DDIM "
              f"steps: FID {ref['fid']:.1f}, {ref['classes_covered']} classes | {h['steps']} steps per seed, "
              f"{h['wall_time_s'] / 60:.0f} min for all |\n")
anchor = "| `text2img` |"
assert anchor in s
s = s.replace(anchor, toy_row + shapes_row + anchor, 1)
open(R, "w").write(s)
print(toy_row, shapes_row)
