"""Fine-tuning Qwen3-VL on the Track 1 training records: the fine-tuned row of Table 3.

Modules by job: `settings` (the settings, the two recipes and the training targets), `recipes` (the recipes side by
side with the reference code), `data` (the examples, the validation split,
the order of the images and the schedule), `model` (the model being trained and its cost), `checkpoints` (the
output folder: checkpoints, the log), `loop` (the run: training, validation, saving, resuming) and `parallel`
(several processes under torchrun or accelerate launch: data-parallel, process 0 writes).

For example::

    from portraitcraft.finetune import FinetuneSettings, run_finetune

    summary = run_finetune(FinetuneSettings(data="data/lab",
                                            model="Qwen/Qwen3-VL-4B-Instruct",
                                            out="runs/ft"))
    # then: portraitcraft predict --model runs/ft --data ... \\
    #           --max-pixels 50176 --max-new-tokens 1024

Two recipes (``recipe``; `finetune.recipes` and chapter 9 show every setting beside the reference code's file and line)
    Shared: learning rate 1e-5, batch size 4 with 4 gradient-accumulation steps (16 images per optimizer step),
    AdamW without weight decay, 3% linear warm-up then cosine decay, gradient clipping at 1.0, gradient checkpointing
    on CUDA, a pixel budget of 50,176 pixels (224 x 224) per image, at least 784: the public reference script's
    values (``qwen-vl-finetune/scripts/sft_qwen3_4b.sh``). The language model (its embeddings, and the LM head tied
    to them) and ``visual.merger`` are trained, the vision encoder (patch and position embeddings, the vision
    blocks) is frozen. With ``lora=True`` the language model's linear layers get LoRA adapters (peft) instead of
    full updates, and the trained mergers are still trained in full.
    ``reference``: the reference code's own run: 0.5 epochs on every labelled training record (none held out),
    ``visual.merger`` alone among the visual parts, pure bf16 (weights, gradients and AdamW state in bfloat16: most
    1e-5 updates round to zero), its training instruction ("You are an aesthetics expert...", before the image),
    the loss over the answer, ``<|im_end|>`` and the newline after it, transformers' warm-up (factor s/w: the first
    step at learning rate 0) and transformers' default seed 42.
    ``ours`` (the default, and the book's computed fine-tuned row): 2 epochs on 90% of the records (10% held out,
    so that the fine-tuned model can be scored on labelled images it has not seen), the DeepStack mergers
    (``visual.deepstack_merger_list``) trained beside ``visual.merger``, fp32 master weights and AdamW state
    (bf16-mixed on CUDA), the inference prompt in training (the model learns the prompt it is asked with), the loss
    over the answer and ``<|im_end|>``, warm-up factor (s+1)/(w+1), seed 0.
Precision
    ``auto``: on CUDA ``bf16-mixed`` (float32 master weights and optimizer state, matrix products in bfloat16
    under autocast); on the CPU ``fp32``. ``bf16`` keeps weights, gradients and AdamW state in bfloat16 (half the
    memory); an update of 1e-5 is below bfloat16's resolution for most weights, so most of them do not move.
Two target formats (``target``)
    ``generate`` (the reference's): the user turn is the runner's ``generate`` prompt (`prompts.generate_prompt`,
    what ``portraitcraft predict --protocol generate`` sends) after the image (recipe ``ours``), or the reference
    conversion's instruction before it (``reference``); the assistant answer is the public reference conversion's
    JSON (``qwen-vl-finetune/convert_json_train.py``), indented by 2::

        {"criteria": {"Color Harmony": {"level": "Good", "reason": "..."},
                      ... all 13 ...},
         "total_score": 72}

    levels from the scores by the benchmark rule (`attributes.level_from_score`), reasons as written, the
    overall score as given; ``"answer": "B"`` is added after ``total_score`` only for a training record with a
    question and its answer (the published train split has none). ``reasons=False`` writes each criterion as its
    bare level instead (a shorter answer). The loss is the mean cross-entropy over the answer's tokens and the
    closing ``<|im_end|>`` (and the newline after it with ``mask_newline``, the reference's mask); prompt, image and
    padding tokens are masked.

    ``score``: the user turn is the runner's ``score`` prompt (`prompts.score_prompt`); the targets are the
    words the ``score`` protocol reads (`prompts.SCORE_SLOTS`): each attribute's level after its line head
    (``Sharpness: Good``), the overall quality word after ``Overall quality:`` (the total score's nearest word,
    `quality_word`: the inverse of `prompts.quality_to_score`) and, with a labelled question, the answer letter
    after ``Answer:``. The loss is computed through the runner's own reading
    (`QwenBackend.slot_probabilities`): for each slot, minus the log-probability (over the whole vocabulary) of
    the right candidate right after the opened assistant turn and the slot's head, exactly where prediction
    reads it; the mean over slots and images.
Validation split
    `portraitcraft.labels.validation_split`: a seeded fraction (recipe ``ours``: 0.1, seed 0) of the fully labelled
    training images, held out of training (``validation_fraction=0``, the reference recipe: none). With the same
    fraction and seed it is the split that ``portraitcraft report`` and the book score Table 3 on where the test
    labels are hidden, so the fine-tuned row is never scored on an image it was trained on. The held-out names are
    recorded in ``finetune.json``.
Output folder ``out``
    ``config.json``, the weights and the processor files (``save_pretrained``): a plain Qwen3-VL folder that
    ``portraitcraft predict --model OUT`` loads. With LoRA the adapters are merged into the saved weights (the
    runner needs no peft); the adapters themselves are kept in ``training_state/`` for resuming.
    ``finetune.json``: the settings, data, split, target lengths, versions, status and last step.
    ``log.jsonl``: one JSON record per line, ``{"kind": "train", "step", "epoch", "loss", "lr", "grad_norm",
    "images", "tokens", "seconds"}`` per optimizer step and ``{"kind": "validation", "step", "epoch", "loss",
    ...metrics}`` at step 0, every ``eval_every`` steps and at the end (`read_log` reads it as a frame).
    ``training_state/``: optimizer, scheduler and step: what resuming needs (delete it once training is done).
Predicting with the checkpoint
    Recipe ``ours``: the training pixel budget (``--max-pixels``/``--min-pixels``: the runner's defaults are the
    reference inference's 2048 x 2048) and, for the generate target, enough new tokens for the whole answer: with
    reasons it is longer than the reference inference's 512, and ``total_score`` comes last, so a cut answer loses
    the score.
    The run prints the command (``predict_hint`` in ``finetune.json``, from the longest training answer). As the
    reference predicts: ``predict --inference reference`` (full resolution up to 2048 px, float16, the base model's
    processor, sampling, 512 new tokens).
Resuming
    Rerunning with the same ``out`` continues from the last checkpoint (saved every ``save_every`` steps and at
    the end) with the same data order and schedule; settings that change the training must match
    (``FinetuneSettings.training_key``), otherwise it stops naming the differences; a run of another recipe is
    refused in one line. A checkpoint is written to
    ``out/.incoming/`` and moved into place only once complete, so a run killed while saving keeps the
    previous checkpoint.
"""

from portraitcraft.finetune.checkpoints import commit_incoming, mark_complete, read_log
from portraitcraft.finetune.data import Plan, TrainingData, lr_factor, training_data
from portraitcraft.finetune.loop import FinetuneSummary, demo_run_dir, prediction_metrics, run_finetune
from portraitcraft.finetune.model import FineTuner, parameter_counts, state_memory_gib
from portraitcraft.finetune.recipes import recipe_rows, recipe_table
from portraitcraft.finetune.settings import (
    FORMAT,
    INCOMING_DIR,
    LOG_FILE,
    RUN_FILE,
    STATE_DIR,
    TARGETS,
    Example,
    FinetuneError,
    FinetuneSettings,
    generate_target,
    quality_word,
    score_target_text,
    score_targets,
)

__all__ = [
    "FORMAT",
    "INCOMING_DIR",
    "LOG_FILE",
    "RUN_FILE",
    "STATE_DIR",
    "TARGETS",
    "Example",
    "FineTuner",
    "FinetuneError",
    "FinetuneSettings",
    "FinetuneSummary",
    "Plan",
    "TrainingData",
    "commit_incoming",
    "demo_run_dir",
    "generate_target",
    "lr_factor",
    "mark_complete",
    "parameter_counts",
    "prediction_metrics",
    "quality_word",
    "read_log",
    "recipe_rows",
    "recipe_table",
    "run_finetune",
    "score_target_text",
    "score_targets",
    "state_memory_gib",
    "training_data",
]
