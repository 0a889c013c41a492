#!/usr/bin/env bash
# The worked example of README.md, "Your own prompts": a prompt set of one's own (the shipped
# prompt_sets/clinic_support.jsonl, 40 support/clinic dialogues written for the project) through the
# task, the judge, the study kit and the reporter. Offline: the model is empathy/mock-responder, the
# judge empathy/mock-judge, and the crowd's returns are simulated (scripts/simulate_returns.py).
# With a real model, judge and crowd, put their names and the app's returns in place of these.
#
#   scripts/own_prompts_example.sh [FOLDER]      (default: ./own-prompts-example)
#
# EMPATHY_TASK_DATA must point at the authors' CSV when there is no network (the judge's
# calibration to the crowd is fitted on its ratings of the study's stored replies).
set -euo pipefail

HERE="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${1:-own-prompts-example}"
JUDGE="${JUDGE:-empathy/mock-judge}"
MODEL="${MODEL:-empathy/mock-responder}"
SET="${SET:-$HERE/prompt_sets/clinic_support.jsonl}"
mkdir -p "$WORK"
cd "$WORK"
export INSPECT_LOG_DIR="$PWD/logs"

# 1. The model on the prompt set; the judge rates its replies and the set's human replies. The set
#    is validated whole first: a malformed row stops the run before any model is called.
inspect eval empathy_task/empathy_task --model "$MODEL" --model-role "grader=$JUDGE" \
  -T "prompts=$SET" --log-dir logs/set --display none

# 2. The same judge on 60 of the study's stored replies of two sources, for its calibration to the
#    crowd (fitted on the study's prompts: on the set it is a transfer, and the report says so).
inspect eval empathy_task/empathy_task --model empathy/human,empathy/chatgpt \
  --model-role "grader=$JUDGE" --limit 60 --log-dir logs/study --display none

# 3. Blinded sheets for a random sample of whole batches of the model's replies (30 prompts: the
#    reporter's prediction-powered inference needs at least 30 crowd-rated replies), the crowd's
#    returns (simulated here; from `empathy-task serve` in a study), and their import.
empathy-task sheets logs/set/*.eval --prompts "$SET" --sample 30 --out sheets --key sheets.key.csv \
  --seed 7 --force
python "$HERE/scripts/simulate_returns.py" sheets --out returns.csv
empathy-task import-returns returns.csv --key sheets.key.csv --out ratings/crowd.csv --force

# 4. One report: the study's prompts and the set are analysed apart (never compared); on the set,
#    the judge's model vs human replies, the crowd's Good rate of the model's replies by PPI
#    (crowd sample + judge), and crowd units as a transfer widened by the measured transfer error.
empathy-task export logs/set/*.eval --out ratings/set.csv --force
empathy-task export logs/study/*.eval --out ratings/study.csv --force
empathy-task report "$EMPATHY_TASK_DATA" ratings/study.csv ratings/set.csv ratings/crowd.csv \
  --out report --force
