#pragma once
#include "vconv/conv.h"
#include "vconv/conv_params.h"
#include "vconv/device.h"
#include "vconv/error.h"
#include "vconv/problem.h"
#include "vconv/tensor_view.h"
#include "vconv/types.h"
