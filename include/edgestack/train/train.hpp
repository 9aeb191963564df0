// The training stage in one include: losses, optimizers, schedules, the fit loop and its
// per-task objective, callbacks, evaluation, anomaly scores and checkpoints.
#pragma once

#include "edgestack/train/anomaly.hpp"
#include "edgestack/train/callbacks.hpp"
#include "edgestack/train/checkpoint.hpp"
#include "edgestack/train/concepts.hpp"
#include "edgestack/train/evaluate.hpp"
#include "edgestack/train/fit.hpp"
#include "edgestack/train/history.hpp"
#include "edgestack/train/loss.hpp"
#include "edgestack/train/metrics.hpp"
#include "edgestack/train/objective.hpp"
#include "edgestack/train/optimizer.hpp"
#include "edgestack/train/schedule.hpp"
