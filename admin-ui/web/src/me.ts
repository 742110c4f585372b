import { createContext } from 'preact'
import { useContext } from 'preact/hooks'
import type { Me } from './api'

export const MeContext = createContext<{ me: Me; reload: () => Promise<void> }>(null as never)

/** useMe returns the signed-in caller. */
export function useMe() {
  return useContext(MeContext)
}
