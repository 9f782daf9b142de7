/*
 * A test double of libnvidia-ml.so.1 implementing the NVML symbols Magneton binds, for CI machines without a GPU.
 * Build: gcc -shared -fPIC -O2 -o libnvidia-ml.so.1 fake_nvml.c
 *
 * Two devices. Device 0 draws 300 W, device 1 150 W. Like an H100, the energy counter (mJ) and the power readings
 * move only every 100 ms of wall time (CLOCK_MONOTONIC since nvmlInit_v2), so a sampler must find the updates.
 * FAKE_NVML_INIT=<code> makes nvmlInit_v2 return that nvmlReturn_t (e.g. 9, NVML_ERROR_DRIVER_NOT_LOADED).
 * FAKE_NVML_CALL_US=<us> is the time one energy-counter read takes (default 200 us; NVML takes ~1300 us on an H100).
 * Built with -DFAKE_NVML_OLD_DRIVER it lacks the entry points a pre-Volta-era driver lacks (the energy counter and
 * field values), to check that the binding reports them as missing rather than crashing.
 * Arguments are checked the way NVML checks them (handles, buffer sizes, field ids), so marshalling mistakes in the
 * binding show up as errors rather than as garbage.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_DRIVER_NOT_LOADED 9
#define NVML_ERROR_UNKNOWN 999

#define NVML_FI_DEV_POWER_AVERAGE 185
#define NVML_FI_DEV_POWER_INSTANT 186
#define NVML_VALUE_TYPE_UNSIGNED_INT 1

typedef struct fake_device {
    const char *name;
    const char *uuid;
    unsigned int power_w;
    unsigned int limit_mw, enforced_mw;
    unsigned int sm_mhz, mem_mhz, temp_c;
    unsigned long long energy_base_mj;
} fake_device;

static fake_device devices[2] = {
    {"NVIDIA H100 80GB HBM3 (fake 0)", "GPU-fa4e0000-0000-4000-8000-000000000000", 300, 700000, 650000, 1980, 2619, 41,
     1000000ULL},
    {"NVIDIA H100 80GB HBM3 (fake 1)", "GPU-fa4e0001-0000-4000-8000-000000000001", 150, 700000, 700000, 1755, 2619, 38,
     2000000ULL},
};

static int initialized = 0;
static long long t0_ns = 0;
static long call_us = 200;

typedef union {
    double dVal;
    unsigned int uiVal;
    unsigned long ulVal;
    unsigned long long ullVal;
    long long sllVal;
    int siVal;
    unsigned short usVal;
} value_t;

typedef struct {
    unsigned int fieldId;
    unsigned int scopeId;
    long long timestamp;
    long long latencyUsec;
    int valueType;
    int nvmlReturn;
    value_t value;
} field_value_t;

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static fake_device *device_of(void *handle)
{
    for (int i = 0; i < 2; i++)
        if (handle == (void *)&devices[i]) return &devices[i];
    return NULL;
}

/* Whole 100 ms steps since init: the counter and the power readings move only at these instants. */
static inline long long steps(void) { return (now_ns() - t0_ns) / 100000000LL; }

static int copy_string(const char *s, char *out, unsigned int length)
{
    if (out == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(s) + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(out, s, strlen(s) + 1);
    return NVML_SUCCESS;
}

int nvmlInit_v2(void)
{
    const char *forced = getenv("FAKE_NVML_INIT");
    if (forced != NULL && atoi(forced) != 0) return atoi(forced);
    const char *us = getenv("FAKE_NVML_CALL_US");
    if (us != NULL) call_us = atol(us);
    if (initialized++ == 0) t0_ns = now_ns();
    return NVML_SUCCESS;
}

int nvmlShutdown(void)
{
    if (initialized == 0) return NVML_ERROR_UNINITIALIZED;
    initialized--;
    return NVML_SUCCESS;
}

const char *nvmlErrorString(int result)
{
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    default: return "Unknown Error";
    }
}

int nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    return copy_string("580.159.04-fake", version, length);
}

int nvmlDeviceGetCount_v2(unsigned int *count)
{
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (count == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *count = 2;
    return NVML_SUCCESS;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned int index, void **device)
{
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (index >= 2 || device == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *device = &devices[index];
    return NVML_SUCCESS;
}

int nvmlDeviceGetName(void *device, char *name, unsigned int length)
{
    fake_device *d = device_of(device);
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (d == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    return copy_string(d->name, name, length);
}

int nvmlDeviceGetUUID(void *device, char *uuid, unsigned int length)
{
    fake_device *d = device_of(device);
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (d == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    return copy_string(d->uuid, uuid, length);
}

int nvmlDeviceGetPowerManagementLimit(void *device, unsigned int *limit)
{
    fake_device *d = device_of(device);
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (d == NULL || limit == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *limit = d->limit_mw;
    return NVML_SUCCESS;
}

int nvmlDeviceGetEnforcedPowerLimit(void *device, unsigned int *limit)
{
    fake_device *d = device_of(device);
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (d == NULL || limit == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *limit = d->enforced_mw;
    return NVML_SUCCESS;
}

#ifndef FAKE_NVML_OLD_DRIVER
int nvmlDeviceGetTotalEnergyConsumption(void *device, unsigned long long *energy)
{
    fake_device *d = device_of(device);
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (d == NULL || energy == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    if (call_us > 0) {
        struct timespec pause = {call_us / 1000000, (call_us % 1000000) * 1000};
        nanosleep(&pause, NULL);
    }
    /* W x ms = mJ: each 100 ms step adds power_w * 100 mJ. */
    *energy = d->energy_base_mj + (unsigned long long)steps() * 100ULL * d->power_w;
    return NVML_SUCCESS;
}
#endif

int nvmlDeviceGetPowerUsage(void *device, unsigned int *power)
{
    fake_device *d = device_of(device);
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (d == NULL || power == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *power = d->power_w * 1000;
    return NVML_SUCCESS;
}

#ifndef FAKE_NVML_OLD_DRIVER
int nvmlDeviceGetFieldValues(void *device, int count, field_value_t *values)
{
    fake_device *d = device_of(device);
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (d == NULL || values == NULL || count <= 0) return NVML_ERROR_INVALID_ARGUMENT;
    for (int i = 0; i < count; i++) {
        field_value_t *v = &values[i];
        v->timestamp = now_ns() / 1000;
        v->latencyUsec = 0;
        if (v->scopeId != 0) {
            v->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
            continue;
        }
        switch (v->fieldId) {
        case NVML_FI_DEV_POWER_INSTANT:
            /* Half a watt above the average, so a test can tell the two readings apart. */
            v->valueType = NVML_VALUE_TYPE_UNSIGNED_INT;
            v->value.ullVal = 0;
            v->value.uiVal = d->power_w * 1000 + 500;
            v->nvmlReturn = NVML_SUCCESS;
            break;
        case NVML_FI_DEV_POWER_AVERAGE:
            v->valueType = NVML_VALUE_TYPE_UNSIGNED_INT;
            v->value.ullVal = 0;
            v->value.uiVal = d->power_w * 1000;
            v->nvmlReturn = NVML_SUCCESS;
            break;
        default:
            v->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
        }
    }
    return NVML_SUCCESS;
}
#endif

int nvmlDeviceGetClockInfo(void *device, int type, unsigned int *clock)
{
    fake_device *d = device_of(device);
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (d == NULL || clock == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    switch (type) {
    case 0: /* NVML_CLOCK_GRAPHICS */
    case 1: /* NVML_CLOCK_SM */
        *clock = d->sm_mhz;
        return NVML_SUCCESS;
    case 2: /* NVML_CLOCK_MEM */
        *clock = d->mem_mhz;
        return NVML_SUCCESS;
    default:
        return NVML_ERROR_NOT_SUPPORTED;
    }
}

int nvmlDeviceGetTemperature(void *device, int sensor, unsigned int *temp)
{
    fake_device *d = device_of(device);
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    if (d == NULL || temp == NULL || sensor != 0) return NVML_ERROR_INVALID_ARGUMENT;
    *temp = d->temp_c;
    return NVML_SUCCESS;
}
