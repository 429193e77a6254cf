"""sweep.json for lesson 15 from the student's manifest scores (student 1/2/4/8 steps, teacher
DDIM 4/20: the recipe's ``score``) and the teacher rows computed by ``quality_point``."""
import json
from pathlib import Path

D = Path("diffusionlab/weights/text2img_distilled")
m = json.loads((D / "manifest.json").read_text())
sc = m["scores"]
rows = []
for n in (1, 2, 4, 8):
    rows.append({"sampler": "lcm", "steps": n, "unet_passes": n,
                 "prompt_accuracy": sc[f"student_{n}_prompt_accuracy"], "fid": sc[f"student_{n}_fid"],
                 "fid_floor": sc["fid_floor"], "seconds_per_image": None})
for n in (4, 20):
    rows.append({"sampler": "ddim", "steps": n, "unet_passes": 2 * n,
                 "prompt_accuracy": sc[f"teacher_ddim_{n}_prompt_accuracy"],
                 "fid": sc[f"teacher_ddim_{n}_fid"], "fid_floor": sc["fid_floor"],
                 "seconds_per_image": None})
seen = {(r["sampler"], r["steps"]) for r in rows}
for line in Path("notebooks/drafts/teacher_rows_partial_15.jsonl").read_text().splitlines():
    r = json.loads(line)
    if (r["sampler"], r["steps"]) not in seen:
        rows.append(r)
        seen.add((r["sampler"], r["steps"]))
order = {"lcm": 0, "ddim": 1, "dpmsolver++": 2, "ddpm": 3}
rows.sort(key=lambda r: (order[r["sampler"]], r["steps"]))
note = ("student rows and teacher DDIM 4/20: the recipe's score (manifest.json); other teacher rows: "
        "text2img_distilled.quality_point, same prompts (256), seeds and FID protocol (500 images); "
        "seconds_per_image measured while other jobs shared the 2 cores (not comparable across rows)")
(D / "sweep.json").write_text(json.dumps({"note": note, "rows": rows}, indent=2) + "\n")
print(len(rows), "rows")
