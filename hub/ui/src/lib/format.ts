// Presentation of exact quantities: the API keeps integers, people read units.

export function cpu(millis: number | null | undefined): string {
  if (millis == null) return '—'
  return millis % 1000 === 0 ? `${millis / 1000}` : `${millis}m`
}

export function bytes(n: number | null | undefined): string {
  if (n == null) return '—'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = n
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit += 1
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`
}

/** Dollars to the cent. A cost below half a cent is not zero (a cluster that just joined, an
 * hour in progress), so it reads "< $0.01" rather than "$0.00", which looks like a fault. */
export function dollars(n: number | null | undefined): string {
  if (n == null) return '—'
  if (n > 0 && n < 0.005) return '< $0.01'
  return `$${n.toFixed(2)}`
}

/** Provider names as people write them. */
export function providerLabel(p: string | null | undefined): string {
  if (!p) return 'unknown'
  const known: Record<string, string> = {
    eks: 'EKS', gke: 'GKE', aks: 'AKS', k3s: 'k3s', openshift: 'OpenShift', kind: 'kind', vanilla: 'vanilla',
    rke2: 'RKE2', oke: 'OKE', doks: 'DOKS', lke: 'LKE', ack: 'ACK', iks: 'IKS', hetzner: 'Hetzner',
    talos: 'Talos', microk8s: 'MicroK8s', minikube: 'minikube', 'eks-anywhere': 'EKS Anywhere',
  }
  return known[p.toLowerCase()] ?? p
}
