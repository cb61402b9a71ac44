/* model_internal.h — PRIVATE to models/: the layout of bl_model and each architecture's builder/forward. */
#ifndef BLASTO_MODEL_INTERNAL_H
#define BLASTO_MODEL_INTERNAL_H

#include "models/models.h"

#define VGG16_CONVS 13
#define RESNET50_BLOCKS 16
#define DENSENET121_LAYERS 58 /* 6 + 12 + 24 + 16 */

typedef struct vgg16_net {
    bl_conv2d_layer conv[VGG16_CONVS];
    int conv_index[VGG16_CONVS];     /* torchvision features.<i> index of each conv */
    bl_linear_layer fc[3];           /* classifier.0, .3, .6 */
} vgg16_net;

typedef struct resnet50_net {
    bl_conv2d_layer conv1;
    bl_batchnorm2d_layer bn1;
    bl_bottleneck block[RESNET50_BLOCKS];
    int stage_end[4];                /* index after the last block of layer1..layer4 */
    bl_linear_layer fc;
} resnet50_net;

typedef struct densenet121_net {
    bl_conv2d_layer conv0;
    bl_batchnorm2d_layer norm0;
    bl_dense_layer layer[DENSENET121_LAYERS];
    int block_size[4];
    bl_transition transition[3];
    bl_batchnorm2d_layer norm5;
    bl_linear_layer classifier;
} densenet121_net;

struct bl_model {
    bl_arch arch;
    bl_head head;
    bl_ctx *ctx;
    int first_tensor, tensor_count; /* this model's slice of the context's registry */
    union {
        vgg16_net vgg;
        resnet50_net resnet;
        densenet121_net densenet;
    } net;
};

bl_status vgg16_build(bl_model *m);
bl_tensor *vgg16_forward(const bl_model *m, const bl_run *run, bl_tensor *x);
bl_status resnet50_build(bl_model *m, int keras_v1);
bl_tensor *resnet50_forward(const bl_model *m, const bl_run *run, bl_tensor *x);
bl_status densenet121_build(bl_model *m);
bl_tensor *densenet121_forward(const bl_model *m, const bl_run *run, bl_tensor *x);

#endif
