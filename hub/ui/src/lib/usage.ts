// The pod page's usage summary: the API returns one point per hour (zero where nothing was
// recorded); people want the average and the peak over the hours that have data.

import type { UsageSeries } from './api'

/** Average and peak of the hours with recorded usage. */
export interface UsageSummary {
  /** Hours with any recorded usage. */
  hours: number
  cpuAvgMillicores: number
  cpuPeakMillicores: number
  memoryAvgBytes: number
  /** Largest memory sample of one container. */
  memoryMaxBytes: number
}

/** The summary of `series`, or `null` when no usage was recorded in it. */
export function usageSummary(series: UsageSeries): UsageSummary | null {
  const recorded = series.points.filter((p) => p.cpu_millicores > 0 || p.memory_bytes > 0 || p.memory_max_bytes > 0)
  if (recorded.length === 0) return null
  const sum = (f: (p: (typeof recorded)[number]) => number) => recorded.reduce((s, p) => s + f(p), 0)
  return {
    hours: recorded.length,
    cpuAvgMillicores: Math.round(sum((p) => p.cpu_millicores) / recorded.length),
    cpuPeakMillicores: Math.max(...recorded.map((p) => p.cpu_millicores)),
    memoryAvgBytes: Math.round(sum((p) => p.memory_bytes) / recorded.length),
    memoryMaxBytes: Math.max(...recorded.map((p) => p.memory_max_bytes)),
  }
}
