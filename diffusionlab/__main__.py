"""Command line: ``python -m diffusionlab <command>``.

    grade [NN ...] [--exercises DIR]   grade your exercises (default folder: exercises/)
    grade --class DIR [--csv F]        teachers: grade a folder per student into one table
    train NAME --out DIR               retrain a shipped model from scratch (see `train --help`)
    notebooks [NN ...]                 re-execute lesson notebooks in place, deterministically
    tour --out DIR                     prompt-to-image without Jupyter (needs the tiny SD)
    export NAME --format diffusers --out DIR   a shipped model (tiny SD, ControlNet, LoRA) for diffusers
    questions [--write-readme]         the 30 interview questions -> lesson, exercise, number
    site --out DIR [NN ...]            the executed course as static HTML (no Jupyter needed)
"""
from __future__ import annotations

import argparse
import importlib
import sys


def _grade(args) -> int:
    from .grading import grade_class, main as grade_main

    if args.class_dir:
        if args.exercises:
            print("grade: give --class or --exercises, not both")
            return 2
        return grade_class(args.class_dir, args.numbers, timeout=args.timeout, csv_path=args.csv,
                           jobs=args.jobs)
    return grade_main(args.numbers, exercises=args.exercises, timeout=args.timeout)


def _train(args) -> int:
    from .recipes import run_recipe

    knobs = {"width": args.width, "batch_size": args.batch_size, "resolution": args.resolution,
             "structure": args.structure}
    return run_recipe(args.name, out=args.out, steps=args.steps, seed=args.seed,
                      command=" ".join(["python -m diffusionlab"] + sys.argv[1:]),
                      knobs=knobs, resume=args.resume, checkpoint_every=args.checkpoint_every,
                      precision=args.precision, grad_accum=args.grad_accum)


def _notebooks(args) -> int:
    from .notebook_runner import main as nb_main

    return nb_main(args.numbers, timeout=args.timeout)


def _tour(args) -> int:
    tour = importlib.import_module("diffusionlab.tour")
    return tour.main(out=args.out)


def _export(args) -> int:
    from .export import check_controlnet, check_text2img, export
    from .export.lora import check_lora

    out = export(args.name, args.out, format=args.format)
    print(f"wrote {args.name} as a {args.format} folder: {out}")
    if args.no_check:
        return 0
    if args.name == "text2img":
        check = check_text2img
    elif args.name.startswith("controlnet_"):
        check = lambda d: check_controlnet(d, kind=args.name.split("_", 1)[1])  # noqa: E731
    else:
        check = lambda d: check_lora(d, args.name)  # noqa: E731
    diff = check(out)
    print(f"round trip: diffusers vs the course's pipeline, same prompts, latents and 20 DDIM "
          f"steps: max |pixel difference| = {diff:.2g} (images in [0, 1])")
    return 0 if diff < 1e-3 else 1


def _questions(args) -> int:
    from .review import main as review_main

    return review_main(write=args.write_readme)


def _site(args) -> int:
    from .site import build_site

    index = build_site(args.out, numbers=args.numbers)
    print(f"wrote the course as static HTML: open {index}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .recipes import STRUCTURES

    parser = argparse.ArgumentParser(prog="python -m diffusionlab",
                                     description="diffusionlab: the course's command line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    g = sub.add_parser("grade", help="grade exercises: passed / failing / not started")
    g.add_argument("numbers", nargs="*", help="exercise numbers such as 01 05 (default: all)")
    g.add_argument("--exercises", default=None,
                   help="folder with your exNN_*.py files (default: exercises/ of this repo)")
    g.add_argument("--timeout", type=float, default=60.0, help="seconds allowed per exercise")
    g.add_argument("--class", dest="class_dir", default=None, metavar="DIR",
                   help="teachers: grade every student folder in DIR (each a copy of exercises/)")
    g.add_argument("--csv", default=None, help="with --class: where to write the table "
                   "(default: DIR/grades.csv)")
    g.add_argument("--jobs", type=int, default=1,
                   help="with --class: students graded at the same time (default 1)")
    g.set_defaults(func=_grade)

    t = sub.add_parser("train", help="retrain a shipped model from scratch")
    t.add_argument("name", help="which model (see the list in `diffusionlab.recipes`)")
    t.add_argument("--out", required=True, help="folder to write the checkpoint into")
    t.add_argument("--steps", type=int, default=None, help="override the recipe's step count")
    t.add_argument("--seed", type=int, default=0)
    scale = t.add_argument_group(
        "scaling up", "knobs a recipe may offer (its KNOBS); unset: the shipped recipe")
    scale.add_argument("--width", type=int, default=None, help="base channel width")
    scale.add_argument("--batch-size", type=int, default=None,
                       help="batch per process and micro-step (global batch: x processes "
                       "x --grad-accum)")
    scale.add_argument("--resolution", type=int, default=None, help="training image size")
    scale.add_argument("--structure", choices=STRUCTURES, default=None,
                       help="vae, text2img: diffusers (their default, what the shipped "
                       "weights are: the network is a stock diffusers class) or course (the "
                       "structure first shipped; `diffusionlab.export.compat`)")
    run = t.add_argument_group(
        "running", "under `torchrun` or `accelerate launch` every process runs this command")
    run.add_argument("--precision", default="auto", choices=("auto", "no", "bf16", "fp16"),
                     help="auto: bf16 on a GPU that supports it, fp32 on CPUs")
    run.add_argument("--grad-accum", type=int, default=1,
                     help="micro-batches per optimizer step on each process")
    run.add_argument("--checkpoint-every", type=int, default=0, metavar="N",
                     help="write OUT/training_state every N steps (and at the end)")
    run.add_argument("--resume", default=None, metavar="DIR",
                     help="continue from a training state folder (OUT/training_state)")
    t.set_defaults(func=_train)

    n = sub.add_parser("notebooks", help="re-execute lesson notebooks in place")
    n.add_argument("numbers", nargs="*", help="notebook numbers such as 01 05 (default: all)")
    n.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    n.set_defaults(func=_notebooks)

    r = sub.add_parser("tour", help="generate a prompt grid and the pipeline figure as PNGs")
    r.add_argument("--out", required=True, help="folder to write the PNGs into")
    r.set_defaults(func=_tour)

    e = sub.add_parser("export", help="write a shipped model as a diffusers model folder")
    e.add_argument("name", help="text2img (a StableDiffusionPipeline folder), "
                   "controlnet_edges or controlnet_masks (a ControlNetModel folder), or "
                   "lora_outlined or dreambooth_lora (a LoRA file for load_lora_weights)")
    e.add_argument("--format", default="diffusers", choices=("diffusers",),
                   help="folder layout (only diffusers')")
    e.add_argument("--out", required=True, help="a new (or empty) folder to write into")
    e.add_argument("--no-check", action="store_true",
                   help="skip the round trip that compares diffusers' images with the course's")
    e.set_defaults(func=_export)

    q = sub.add_parser("questions", help="the question map: each interview question's lesson, "
                       "exercise and measured number (from diffusionlab/review.py)")
    q.add_argument("--write-readme", action="store_true",
                   help="rewrite the README's question map section instead of printing it")
    q.set_defaults(func=_questions)

    s = sub.add_parser("site", help="write the executed lessons as static HTML, no re-execution")
    s.add_argument("--out", required=True, help="folder to write index.html and the lessons into")
    s.add_argument("numbers", nargs="*", help="lesson numbers such as 01 04b (default: all)")
    s.set_defaults(func=_site)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
