#!/usr/bin/env bash
# The worked example of README.md and docs/leaderboards.md: models run in two batches, one batch
# through lm-evaluation-harness, one model re-judged, all reported together. Offline: the models
# replay the study's stored replies (empathy/human, empathy/chatgpt, empathy/chatgpt_empathy) or
# are lm-eval's offline `dummy` model, the judge is the deterministic empathy/mock-judge and the
# second judge, which re-judges one log, is empathy/mock-judge-strict (rates one step lower).
# With real models and judges, put their names in place of these; nothing else changes.
#
#   scripts/worked_example.sh [FOLDER]      (default: ./worked-example; needs empathy-task[lm-eval])
#
# EMPATHY_TASK_DATA must point at the authors' CSV when there is no network.
set -euo pipefail

WORK="${1:-worked-example}"
JUDGE="${JUDGE:-empathy/mock-judge}"
REJUDGE="${REJUDGE:-empathy/mock-judge-strict}"  # the judge that re-judges one log
mkdir -p "$WORK"
cd "$WORK"
export INSPECT_LOG_DIR="$PWD/logs"

# Batch 1, Inspect: two models as one eval set on 40 prompts. --max-tasks 1 runs them one after
# the other, so the second model's run reuses the judge's cached ratings of the human replies.
inspect eval-set empathy_task/empathy_task \
  --model empathy/chatgpt,empathy/chatgpt_empathy \
  --model-role "grader=$JUDGE" --limit 40 --max-tasks 1 \
  --log-dir logs/batch1 --display none

# Batch 2, later and smaller (24 prompts): a third model in Inspect (the human replies replayed
# as a model: a check that must come out level with the judge-rated human baseline) ...
inspect eval empathy_task/empathy_task --model empathy/human \
  --model-role "grader=$JUDGE" --limit 24 --log-dir logs/batch2 --display none

# ... and a model through lm-eval, judged post hoc by the same judge. The human replies to its
# prompts were judged in the Inspect runs already, so --no-human.
lm_eval --model dummy --tasks empathy_task --include_path "$(empathy-task lm-eval-path)" \
  --limit 24 --log_samples --output_path lmeval
empathy-task judge lmeval/*/samples_empathy_task_*.jsonl --grader "$JUDGE" --no-human \
  --out ratings/lmeval.csv --no-progress --force

# Re-judge one model's log with a second judge without regenerating its replies. --action append
# keeps the first judge's scores beside the new ones (empathy_judge1): export and report read both,
# each rating under the judge its score names, so the model stays on the first judge's board and
# gets a second judge's row against that judge's own ratings of the human replies.
inspect score "$(ls logs/batch1/*.eval | tail -n 1)" --scorer empathy_task/empathy_judge \
  --model-role "grader=$REJUDGE" --action append --overwrite --display none

# One rating table from every Inspect log and every judge scorer (a judge's ratings of the same
# human reply in several logs are one rating), then one report over both frameworks' tables; the
# report groups by judge and never tests one judge's ratings against another's.
empathy-task export logs/batch1/*.eval logs/batch2/*.eval --out ratings/inspect.csv --force
empathy-task report ratings/inspect.csv ratings/lmeval.csv --baseline human --out report --force
