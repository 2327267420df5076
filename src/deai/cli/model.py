"""``deai model``: add, list, show and run model artifacts (deai.runtime)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from deai.cli.common import JsonOption, console, emit, state
from deai.config import Config
from deai.errors import InputError

app = typer.Typer(help="Model artifacts: add, list, show and run them.", no_args_is_help=True)

_KINDS = {"classify": "classify", "embed": "embed", "generate": "generate", "image": "image"}


def _store(config: Config) -> Any:
    from deai.store import LocalStore

    return LocalStore.from_config(config)


def _catalog(config: Config) -> Any:
    from deai.runtime.catalog import ModelCatalog

    return ModelCatalog.for_data_dir(config.data_dir)


@app.command("add")
def add(
    ctx: typer.Context,
    path: Annotated[Path | None, typer.Argument(help="A model folder (with deai-model.json) or an .onnx file.")] = None,
    task: Annotated[str, typer.Option(help="Task of a bare .onnx file.")] = "classify",
    demo: Annotated[bool, typer.Option("--demo", help="Add every demo model (built offline if needed).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Add a model to the local store and catalog; prints its CID."""
    from deai.runtime.catalog import add_demo_datasets, add_demo_models, add_model

    config = state(ctx).config
    store, catalog = _store(config), _catalog(config)
    if demo:
        cids = add_demo_models(store, catalog, quiet=as_json)
        datasets = add_demo_datasets(store)
        emit({"models": cids, "datasets": datasets}, as_json, lambda: console.print(
            "\n".join(f"{n:<22} {c}" for n, c in {**cids, **{f"dataset {k}": v for k, v in datasets.items()}}.items()),
            highlight=False, soft_wrap=True))
        return
    if path is None:
        raise InputError("give a model folder or .onnx file, or --demo", hint="deai model add ./my-model")
    cid, manifest = add_model(store, path, catalog, task=task)
    emit({"cid": cid, "name": manifest.name, "framework": manifest.framework, "task": manifest.task},
         as_json, lambda: console.print(f"added [bold]{manifest.name}[/] ({manifest.framework}, {manifest.task})\n{cid}"))


@app.command("ls")
def ls(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the models added to this node."""
    entries = _catalog(state(ctx).config).entries()

    def render() -> None:
        if not entries:
            console.print("no models yet: `deai model add DIR` or `deai model add --demo`")
            return
        table = Table("name", "task", "framework", "size")
        table.add_column("cid", overflow="fold", no_wrap=False, min_width=20)
        for e in entries:
            table.add_row(e.name, e.task, e.framework, f"{e.size / 1e6:.1f} MB", e.cid)
        console.print(table)

    emit({"models": [e.model_dump() for e in entries]}, as_json, render)


@app.command("show")
def show(ctx: typer.Context, cid: Annotated[str, typer.Argument(help="Model CID.")], as_json: JsonOption = False) -> None:
    """Print a model's manifest: framework, task, inputs, outputs, licence, parents."""
    from deai.runtime.catalog import read_manifest_by_cid

    manifest = read_manifest_by_cid(_store(state(ctx).config), cid)

    def render() -> None:
        console.print(f"[bold]{manifest.name}[/]  {manifest.framework} / {manifest.task}  licence {manifest.license}")
        if manifest.description:
            console.print(manifest.description)
        io = Table("", "name", "dtype", "shape")
        for kind, specs in (("input", manifest.inputs), ("output", manifest.outputs)):
            for t in specs:
                io.add_row(kind, t.name, t.dtype, str(list(t.shape)))
        console.print(io)
        for p in manifest.parents:
            console.print(f"parent {p.role:<7} {p.name} {p.cid}", soft_wrap=True)
        for key, value in sorted(manifest.metrics.items()):
            console.print(f"metric {key} = {value:.4g}")
        console.print(f"{len(manifest.files)} files, {sum(f.size for f in manifest.files)} bytes")

    emit({"cid": cid, **manifest.model_dump(mode="json")}, as_json, render)


def _input_bytes(value: str | None) -> bytes | None:
    if value is None:
        return None
    path = Path(value)
    try:
        if path.is_file():
            return path.read_bytes()
    except OSError:  # a long text is not a path
        pass
    return value.encode("utf-8")


@app.command("run")
def run(
    ctx: typer.Context,
    cid: Annotated[str, typer.Argument(help="Model CID.")],
    input_: Annotated[str | None, typer.Option(
        "--input", "-i",
        help="A file (PNG/.npy/JSON for digits, text) or a literal: text to embed or continue, a label to draw.",
    )] = None,
    max_tokens: Annotated[int, typer.Option(help="Tokens to generate.")] = 64,
    temperature: Annotated[float, typer.Option(help="Sampling temperature (0 = greedy).")] = 0.8,
    top_k: Annotated[int | None, typer.Option(help="Sample among the k most likely tokens.")] = 40,
    seed: Annotated[int, typer.Option(help="Seed for sampling and image noise.")] = 0,
    count: Annotated[int, typer.Option(help="Images to draw.")] = 1,
    threads: Annotated[int, typer.Option(help="Threads (canonical outputs do not depend on it).")] = 1,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto.")] = "cpu",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the main output (PNG, text, .npy) here.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Run a model in the canonical mode and print its result."""
    from deai.runtime.canonical import RunSettings
    from deai.runtime.catalog import read_manifest_by_cid
    from deai.runtime.device import resolve_device
    from deai.runtime.execute import Executor
    from deai.runtime.spec import WorkloadSpec, spec_error_from

    config = state(ctx).config
    store = _store(config)
    manifest = read_manifest_by_cid(store, cid)
    data = _input_bytes(input_)
    if data is None and manifest.task != "image":
        raise InputError(f"{manifest.name} ({manifest.task}) needs --input", hint=_input_hint(manifest.task))
    inputs = [str(store.add_bytes(data))] if data is not None else []
    from pydantic import ValidationError

    try:
        spec = WorkloadSpec.model_validate({
            "kind": _KINDS[manifest.task], "model": cid, "inputs": inputs,
            "params": {"max_tokens": max_tokens, "temperature": temperature, "top_k": top_k, "seed": seed,
                       "count": count},
        })
    except ValidationError as exc:
        raise spec_error_from(exc) from None
    settings = RunSettings(canonical=True, threads=threads, device=resolve_device(device))
    result = Executor.from_config(config, store, settings=settings).execute(spec)
    main = result.outputs[0]
    if out is not None:
        out.write_bytes(store.read_bytes(main.cid))

    def render() -> None:
        r = result.result
        if manifest.task == "classify":
            for p in r["predictions"][:20]:
                console.print(f"label [bold]{p['label']}[/]  probability {p['probability']:.4f}")
        elif manifest.task == "embed":
            vector = r.get("embedding") or r["embeddings"][0]
            shown = ", ".join(f"{v:.4f}" for v in vector[:6])
            console.print(f"embedding of {r['dim']} floats: [{shown}, …]", soft_wrap=True)
        elif manifest.task == "generate":
            console.print(f"[dim]{r['prompt']}[/]{r['text']}", highlight=False, markup=True)
        else:
            where = str(out) if out else f"`deai store get {main.cid}`"
            console.print(f"PNG {r['width']}×{r['height']} ({r['png_bytes']} bytes) of label {r['label']} → {where}")
        console.print(f"[dim]output {main.name} {main.cid}\nresult hash {result.result_hash}  "
                      f"run {result.timing.run_s * 1000:.1f} ms[/]", soft_wrap=True)

    emit(result.model_dump(mode="json"), as_json, render)


def _input_hint(task: str) -> str:
    return {
        "classify": "--input digit.png, an .npy of 64 values, or a JSON list of 64 numbers (0..16)",
        "embed": "--input 'some text' or a file of text",
        "generate": "--input 'The import statement'",
    }.get(task, "--input 7")


@app.command("finetune")
def finetune(
    ctx: typer.Context,
    cid: Annotated[str, typer.Argument(help="CID of the model to start from.")],
    dataset: Annotated[str, typer.Option(help="Dataset CID, or a dataset folder (x.npy, y.npy, deai-dataset.json).")],
    epochs: Annotated[int, typer.Option(help="Passes over the dataset.")] = 5,
    learning_rate: Annotated[float, typer.Option(help="Adam learning rate.")] = 5e-3,
    batch_size: Annotated[int, typer.Option(help="Rows per step.")] = 32,
    checkpoint_every: Annotated[int, typer.Option(help="Checkpoint (and chain link) every K steps.")] = 50,
    seed: Annotated[int, typer.Option(help="Seed of the data order (and of the weights with --scratch).")] = 0,
    scratch: Annotated[bool, typer.Option("--scratch", help="Train from a fresh initialisation (kind train).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Fine-tune (or train) a model on a dataset: a new model whose manifest names both parents."""
    from pydantic import ValidationError
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from deai.runtime.catalog import read_manifest_by_cid
    from deai.runtime.execute import Executor
    from deai.runtime.spec import WorkloadSpec, spec_error_from

    config = state(ctx).config
    store = _store(config)
    read_manifest_by_cid(store, cid)  # an unknown CID fails here, before any training
    folder = Path(dataset)
    dataset_cid = str(store.add_path(folder)) if folder.is_dir() else dataset
    try:
        spec = WorkloadSpec.model_validate({
            "kind": "train" if scratch else "finetune", "model": cid, "inputs": [dataset_cid],
            "params": {"epochs": epochs, "learning_rate": learning_rate, "batch_size": batch_size,
                       "checkpoint_every": checkpoint_every, "seed": seed},
        })
    except ValidationError as exc:
        raise spec_error_from(exc) from None
    progress = Progress(TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]:.4f}"),
                        TimeElapsedColumn(), console=console, disable=as_json)
    task = progress.add_task("train", total=None, loss=float("nan"))

    def on_step(step: int, total: int, loss: float) -> None:
        progress.update(task, completed=step, total=total, loss=loss)

    with progress:
        result = Executor(store, cache_dir=config.data_dir / "runtime", on_train_step=on_step).execute(spec)
    model_cid = result.output("model").cid
    _catalog(config).record(model_cid, read_manifest_by_cid(store, model_cid))
    r = result.result
    emit(result.model_dump(mode="json"), as_json, lambda: console.print(
        f"[bold]{r['name']}[/] {model_cid}\n{r['steps']} steps, final loss {r['final_loss']:.4f}, "
        f"train accuracy {r['train_accuracy']:.3f}\n{r['checkpoints']} checkpoints, chain head {r['chain_head']}",
        highlight=False))
