// The data stage in one include: loaders (IDX, Fashion-MNIST, CSV/TSV, NPY, image folders of
// PNG, JPEG and Netpbm files, in-memory, subsets), cleaning, labels, augmentation policies and
// the Batcher.
#pragma once

#include "edgestack/data/augment.hpp"
#include "edgestack/data/batch.hpp"
#include "edgestack/data/batcher.hpp"
#include "edgestack/data/clean.hpp"
#include "edgestack/data/csv.hpp"
#include "edgestack/data/fashion_mnist.hpp"
#include "edgestack/data/idx.hpp"
#include "edgestack/data/image.hpp"
#include "edgestack/data/image_augment.hpp"
#include "edgestack/data/image_folder.hpp"
#include "edgestack/data/in_memory.hpp"
#include "edgestack/data/jpeg.hpp"
#include "edgestack/data/label_map.hpp"
#include "edgestack/data/no_augment.hpp"
#include "edgestack/data/npy.hpp"
#include "edgestack/data/png.hpp"
#include "edgestack/data/series_augment.hpp"
#include "edgestack/data/subset.hpp"
#include "edgestack/data/table.hpp"
#include "edgestack/data/targets.hpp"
